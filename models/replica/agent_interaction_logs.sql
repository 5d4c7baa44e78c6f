with final as (
    select * from {{ ref('stg_master__agent_interaction_logs') }}
)

select * from final
