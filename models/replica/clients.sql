{#
    Master's clients. A legacy local client with the same id is a conflict, settled
    by var local_conflict_policy (master_wins by default; local_wins takes the
    local name, status and created_at) and listed in merge_conflicts. Local-only
    clients stay in local_archive.local_only_clients.
#}
with master_clients as (
    select * from {{ ref('stg_master__clients') }}
),

{%- if merge_policy('local_conflict_policy') == 'local_wins' %}

    local_clients as (
        select * from {{ ref('stg_local__clients') }}
    ),
{%- endif %}

final as (
    select
        master_clients.id,
        {{ resolved_column('name', 'master_clients', 'local_clients') }} as name,
        master_clients.description,
        {{ resolved_column('status', 'master_clients', 'local_clients') }} as status,
        {{ resolved_column('created_at', 'master_clients', 'local_clients') }}
            as created_at,
        master_clients.updated_at,
        master_clients.contact_info,
        master_clients.whatsapp_number_id,
        master_clients.whatsapp_phone_number
    from master_clients
    {%- if merge_policy('local_conflict_policy') == 'local_wins' %}
        left join local_clients on master_clients.id = local_clients.id
    {%- endif %}
)

select * from final
