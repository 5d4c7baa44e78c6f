with source as (
    select * from {{ source('local_archive', 'leads') }}
),

final as (
    select
        id,
        project_id,
        name,
        phone,
        status,
        created_at
    from source
)

select * from final
