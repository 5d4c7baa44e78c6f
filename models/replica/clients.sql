{{
    config(
        post_hook="{{ primary_key_as_master('clients') }}",
    )
}}
{#
    Master's clients: every column master has, with master's types, in master's
    order (master_select). A legacy local client with the same id is a conflict,
    settled by var local_conflict_policy (master_wins by default; local_wins
    takes the local name, status and created_at) and listed in merge_conflicts.
    Local-only clients stay in local_archive.local_only_clients.
#}
{%- set local_wins = merge_policy('local_conflict_policy') == 'local_wins' %}
with master_clients as (
    select * from {{ ref('stg_master__clients') }}
),

{%- if local_wins %}

    local_clients as (
        select * from {{ ref('stg_local__clients') }}
    ),
{%- endif %}

final as (
    select
        {{ master_select('clients', 'master_clients', overrides=local_overrides(
            ['name', 'status', 'created_at'], 'master_clients', 'local_clients')) }}
    from master_clients
    {%- if local_wins %}
        left join local_clients on master_clients.id = local_clients.id
    {%- endif %}
)

select * from final
