with final as (
    select * from {{ ref('stg_master__lead_status_history') }}
)

select * from final
