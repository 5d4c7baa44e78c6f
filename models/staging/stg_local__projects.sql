with source as (
    select * from {{ source('local_archive', 'projects') }}
),

final as (
    select
        id,
        client_id,
        name,
        status,
        created_at
    from source
)

select * from final
