{#
    Master's conversation_audit_log as landed: every column master has, as it is, in master's
    order; then, as null, each column the models read (below, docs/master.md's)
    that this master lacks (said in the run's notes).
#}
with source as (
    select * from {{ source('master', 'conversation_audit_log') }}
),

final as (
    select
        {{ columns_or_null(source('master', 'conversation_audit_log'), {
            'id':              'uuid',
            'conversation_id': 'uuid',
            'action':          'text',
            'from_status':     'text',
            'to_status':       'text',
            'validation_mode': 'text',
            'context':         'jsonb',
            'created_at':      'timestamptz',
        }) }}
    from source
)

select * from final
