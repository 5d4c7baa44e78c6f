with source as (
    select * from {{ source('local_archive', 'clients') }}
),

final as (
    select
        id,
        name,
        status,
        created_at
    from source
)

select * from final
