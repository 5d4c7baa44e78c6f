{{
    config(
        materialized='view',
        post_hook="{{ index_landing_table(source('master', 'conversation_audit_log')) }}",
    )
}}
{#
    Master's conversation_audit_log as loaded: a view over the landing table, which the runner
    loads with master's primary key and this model's indexes (index_landing_table).
    A copy would cost as much as the load again, at every sync.
#}
with final as (
    select * from {{ ref('stg_master__conversation_audit_log') }}
)

select * from final
