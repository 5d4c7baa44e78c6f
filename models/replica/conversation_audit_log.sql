{{
    config(
        post_hook="{{ primary_key_as_master('conversation_audit_log') }}",
    )
}}
{#
    Master's conversation_audit_log: every column master has, with master's types, in
    master's order (master_select, from the catalog), and master's primary key.
    A table, as master's is: the application's database serves it (row-level
    security, master's policies and grants: crm_replica/db/access.py).
#}
with staged as (
    select * from {{ ref('stg_master__conversation_audit_log') }}
),

final as (
    select
        {{ master_select('conversation_audit_log') }}
    from staged
)

select * from final
