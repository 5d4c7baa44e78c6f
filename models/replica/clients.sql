with final as (
    select * from {{ ref('stg_master__clients') }}
)

select * from final
