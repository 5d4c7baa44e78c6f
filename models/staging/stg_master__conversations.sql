{#
    Master's conversations as landed: every column master has, as it is, in master's
    order; then, as null, each column the models read (below, docs/master.md's)
    that this master lacks (said in the run's notes).
#}
with source as (
    select * from {{ source('master', 'conversations') }}
),

final as (
    select
        {{ columns_or_null(source('master', 'conversations'), {
            'id':                   'uuid',
            'lead_id':              'uuid',
            'message_content':      'text',
            'timestamp':            'timestamptz',
            'metadata':             'jsonb',
            'message_id':           'varchar(255)',
            'message_type':         'varchar(50)',
            'status':               'varchar(50)',
            'created_at':           'timestamptz',
            'updated_at':           'timestamptz',
            'validation_context':   'jsonb',
            'conversation_context': 'jsonb',
        }) }}
    from source
)

select * from final
