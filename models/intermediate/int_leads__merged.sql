{#
    Master's leads merged with the replica's legacy local leads (from the archive).
    A lead in master takes master's values, whatever the local row said (the
    differences are listed in merge_conflicts). A local-only lead is given master's
    21 columns: name, phone, status and created_at from the local row, the project
    when master has it (with its client), the rest null. Whether local-only leads
    reach the replica's `leads` is var local_only_leads; this model has them all,
    marked by is_in_master / is_in_local.
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
        master_leads.id,
        master_leads.name,
        master_leads.email,
        master_leads.phone,
        master_leads.status,
        master_leads.created_at,
        master_leads.updated_at,
        master_leads.client_id,
        master_leads.current_project_id,
        master_leads.state,
        master_leads.bant_status,
        master_leads.state_status_metadata,
        master_leads.lead_metadata,
        master_leads.last_message_from,
        master_leads.first_interaction,
        master_leads.last_interaction,
        master_leads.interaction_count,
        master_leads.next_follow_up,
        master_leads.follow_up_count,
        master_leads.requires_human_review,
        master_leads.last_agent_processed_at,
        true as is_in_master,
        local_leads.id is not null as is_in_local
    from master_leads
    left join local_leads on master_leads.id = local_leads.id
),

local_only as (
    select
        local_leads.id,
        local_leads.name,
        null::varchar(255) as email,
        local_leads.phone,
        local_leads.status,
        local_leads.created_at,
        local_leads.created_at as updated_at,
        master_projects.client_id,
        master_projects.id as current_project_id,
        null::varchar(50) as state,
        null::varchar(50) as bant_status,
        null::jsonb as state_status_metadata,
        null::jsonb as lead_metadata,
        null::varchar(50) as last_message_from,
        null::timestamptz as first_interaction,
        null::timestamptz as last_interaction,
        null::integer as interaction_count,
        null::timestamptz as next_follow_up,
        null::integer as follow_up_count,
        null::boolean as requires_human_review,
        null::timestamptz as last_agent_processed_at,
        false as is_in_master,
        true as is_in_local
    from local_leads
    left join master_projects on local_leads.project_id = master_projects.id
    where not exists (
        select 1 from master_leads
        where master_leads.id = local_leads.id
    )
),

final as (
    select * from from_master
    union all
    select * from local_only
)

select * from final
