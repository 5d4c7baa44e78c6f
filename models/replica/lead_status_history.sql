{{
    config(
        materialized='view',
        post_hook="{{ index_landing_table(source('master', 'lead_status_history')) }}",
    )
}}
{#
    Master's lead_status_history: every column master has, with master's types, in
    master's order (master_select, from the catalog). A view over the landing
    table, which the runner loads with master's primary key and this model's
    indexes (index_landing_table): a copy would cost as much as the load again,
    at every sync.
#}
with staged as (
    select * from {{ ref('stg_master__lead_status_history') }}
),

final as (
    select
        {{ master_select('lead_status_history') }}
    from staged
)

select * from final
