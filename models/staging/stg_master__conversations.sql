with source as (
    select * from {{ source('master', 'conversations') }}
),

final as (
    select
        id,
        lead_id,
        message_content,
        "timestamp",
        metadata,
        message_id,
        message_type,
        status,
        created_at,
        updated_at,
        validation_context,
        conversation_context
    from source
)

select * from final
