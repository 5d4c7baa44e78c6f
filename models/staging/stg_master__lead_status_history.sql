with source as (
    select * from {{ source('master', 'lead_status_history') }}
),

final as (
    select
        id,
        lead_id,
        status_type,
        status,
        previous_status,
        reason,
        status_metadata,
        changed_at,
        changed_by,
        created_at
    from source
)

select * from final
