{{
    config(
        post_hook="{{ primary_key_as_master('conversations') }}",
    )
}}
{#
    Master's conversations: every column master has, with master's types, in
    master's order (master_select, from the catalog), and master's primary key.
    A table, as master's is: the application's database serves it (row-level
    security, master's policies and grants: crm_replica/db/access.py).
#}
with staged as (
    select * from {{ ref('stg_master__conversations') }}
),

final as (
    select
        {{ master_select('conversations') }}
    from staged
)

select * from final
