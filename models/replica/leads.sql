with final as (
    select * from {{ ref('stg_master__leads') }}
)

select * from final
