with final as (
    select * from {{ ref('stg_master__conversations') }}
)

select * from final
