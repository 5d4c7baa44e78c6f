{{ config(materialized='table', schema=var('local_archive_schema')) }}
{#
    Legacy local clients whose id master does not have: preserved here, with their
    original columns, since the replica's clients are master's.
#}
with local_clients as (
    select * from {{ ref('stg_local__clients') }}
),

master_clients as (
    select * from {{ ref('stg_master__clients') }}
),

final as (
    select
        local_clients.id,
        local_clients.name,
        local_clients.status,
        local_clients.created_at
    from local_clients
    where not exists (
        select 1 from master_clients
        where master_clients.id = local_clients.id
    )
)

select * from final
