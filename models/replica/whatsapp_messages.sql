{{
    config(
        post_hook="{{ primary_key_as_master('whatsapp_messages') }}",
    )
}}
{#
    Master's whatsapp_messages: every column master has, with master's types, in
    master's order (master_select, from the catalog), and master's primary key.
    A table, as master's is: the application's database serves it (row-level
    security, master's policies and grants: crm_replica/db/access.py).
#}
with staged as (
    select * from {{ ref('stg_master__whatsapp_messages') }}
),

final as (
    select
        {{ master_select('whatsapp_messages') }}
    from staged
)

select * from final
