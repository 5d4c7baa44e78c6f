{{
    config(
        post_hook="{{ primary_key_as_master('projects') }}",
    )
}}
{#
    Master's projects: every column master has, with master's types, in master's
    order (master_select). A legacy local project with the same id is a
    conflict, settled by var local_conflict_policy (master_wins by default;
    local_wins takes the local name, status and created_at, never the local
    client_id, which may name a client master does not have) and listed in
    merge_conflicts. Local-only projects stay in local_archive.local_only_projects.
#}
{%- set local_wins = merge_policy('local_conflict_policy') == 'local_wins' %}
with master_projects as (
    select * from {{ ref('stg_master__projects') }}
),

{%- if local_wins %}

    local_projects as (
        select * from {{ ref('stg_local__projects') }}
    ),
{%- endif %}

final as (
    select
        {{ master_select('projects', 'master_projects', overrides=local_overrides(
            ['name', 'status', 'created_at'], 'master_projects', 'local_projects')) }}
    from master_projects
    {%- if local_wins %}
        left join local_projects on master_projects.id = local_projects.id
    {%- endif %}
)

select * from final
