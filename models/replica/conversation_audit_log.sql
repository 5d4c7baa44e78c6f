with final as (
    select * from {{ ref('stg_master__conversation_audit_log') }}
)

select * from final
