with source as (
    select * from {{ source('master', 'clients') }}
),

final as (
    select
        id,
        name,
        description,
        status,
        created_at,
        updated_at,
        contact_info,
        whatsapp_number_id,
        whatsapp_phone_number
    from source
)

select * from final
