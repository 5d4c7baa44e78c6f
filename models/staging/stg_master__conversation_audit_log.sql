with source as (
    select * from {{ source('master', 'conversation_audit_log') }}
),

final as (
    select
        id,
        conversation_id,
        action,
        from_status,
        to_status,
        validation_mode,
        context,
        created_at
    from source
)

select * from final
