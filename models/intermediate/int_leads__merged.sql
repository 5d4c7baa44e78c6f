{#
    Master's leads merged with the replica's legacy local leads (from the archive).
    A lead in master takes master's values, whatever the local row said (the
    differences are listed in merge_conflicts). A local-only lead is given the
    columns of master's (stg_master__leads: every column master has, and the
    ones the models read): the local row's column of the same name (name, phone,
    status, created_at, and whatever else both have), its project_id as
    current_project_id with that project's client when master has it, created_at
    as updated_at, the rest null. Whether local-only leads reach the replica's
    `leads` is var local_only_leads; this model has them all, marked by
    is_in_master / is_in_local, with display_name (name, else first and last
    name) for the read models.
#}
with master_leads as (
    select * from {{ ref('stg_master__leads') }}
),

local_leads as (
    select * from {{ ref('stg_local__leads') }}
),

master_projects as (
    select * from {{ ref('stg_master__projects') }}
),

from_master as (
    select
        master_leads.*,
        true as is_in_master,
        local_leads.id is not null as is_in_local
    from master_leads
    left join local_leads on master_leads.id = local_leads.id
),

local_with_project as (
    select
        local_leads.*,
        master_projects.id as master_project_id,
        master_projects.client_id as master_project_client_id
    from local_leads
    left join master_projects on local_leads.project_id = master_projects.id
),

local_only as (
    select
        {{ columns_as(
            ref('stg_master__leads'), ref('stg_local__leads'), 'local_leads', {
                'updated_at': 'local_leads.created_at',
                'client_id': 'local_leads.master_project_client_id',
                'current_project_id': 'local_leads.master_project_id',
            }) }},
        false as is_in_master,
        true as is_in_local
    from local_with_project as local_leads
    where not exists (
        select 1 from master_leads
        where master_leads.id = local_leads.id
    )
),

merged as (
    select * from from_master
    union all
    select * from local_only
),

final as (
    select
        merged.*,
        coalesce(
            nullif(btrim(merged.name), ''),
            nullif(btrim(concat_ws(' ', merged.first_name, merged.last_name)), '')
        ) as display_name
    from merged
)

select * from final
