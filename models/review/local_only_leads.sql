{#
    Legacy local leads whose id master does not have, with their original columns,
    whatever var local_only_leads says: is_in_replica tells whether they were also
    kept in the replica's `leads` (policy keep) or only archived here (archive).
#}
with merged as (
    select * from {{ ref('int_leads__merged') }}
),

local_leads as (
    select * from {{ ref('stg_local__leads') }}
),

final as (
    select
        local_leads.id,
        local_leads.project_id,
        local_leads.name,
        local_leads.phone,
        local_leads.status,
        {{ keeps_local_only_leads() }}
            as is_in_replica,
        local_leads.created_at
    from local_leads
    inner join merged on local_leads.id = merged.id
    where not merged.is_in_master
)

select * from final
