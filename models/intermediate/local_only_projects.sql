{{ config(materialized='table', schema=var('local_archive_schema')) }}
{#
    Legacy local projects whose id master does not have: preserved here, with their
    original columns, since the replica's projects are master's.
#}
with local_projects as (
    select * from {{ ref('stg_local__projects') }}
),

master_projects as (
    select * from {{ ref('stg_master__projects') }}
),

final as (
    select
        local_projects.id,
        local_projects.client_id,
        local_projects.name,
        local_projects.status,
        local_projects.created_at
    from local_projects
    where not exists (
        select 1 from master_projects
        where master_projects.id = local_projects.id
    )
)

select * from final
