with final as (
    select * from {{ ref('stg_master__projects') }}
)

select * from final
