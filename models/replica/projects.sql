{#
    Master's projects. A legacy local project with the same id is a conflict,
    settled by var local_conflict_policy (master_wins by default; local_wins takes
    the local name, status and created_at, never the local client_id, which may
    name a client master does not have) and listed in merge_conflicts. Local-only
    projects stay in local_archive.local_only_projects.
#}
with master_projects as (
    select * from {{ ref('stg_master__projects') }}
),

{%- if merge_policy('local_conflict_policy') == 'local_wins' %}

    local_projects as (
        select * from {{ ref('stg_local__projects') }}
    ),
{%- endif %}

final as (
    select
        master_projects.id,
        {{ resolved_column('name', 'master_projects', 'local_projects') }} as name,
        master_projects.description,
        master_projects.client_id,
        {{ resolved_column('status', 'master_projects', 'local_projects') }}
            as status,
        master_projects.settings,
        {{ resolved_column('created_at', 'master_projects', 'local_projects') }}
            as created_at,
        master_projects.updated_at,
        master_projects.metadata
    from master_projects
    {%- if merge_policy('local_conflict_policy') == 'local_wins' %}
        left join local_projects on master_projects.id = local_projects.id
    {%- endif %}
)

select * from final
