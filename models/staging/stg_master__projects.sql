with source as (
    select * from {{ source('master', 'projects') }}
),

final as (
    select
        id,
        name,
        description,
        client_id,
        status,
        settings,
        created_at,
        updated_at,
        metadata
    from source
)

select * from final
