with final as (
    select * from {{ ref('stg_master__whatsapp_messages') }}
)

select * from final
