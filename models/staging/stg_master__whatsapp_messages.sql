{#
    Master's whatsapp_messages as landed: every column master has, as it is, in master's
    order; then, as null, each column the models read (below, docs/master.md's)
    that this master lacks (said in the run's notes).
#}
with source as (
    select * from {{ source('master', 'whatsapp_messages') }}
),

final as (
    select
        {{ columns_or_null(source('master', 'whatsapp_messages'), {
            'id':                 'uuid',
            'sender_number':      'varchar(20)',
            'content':            'text',
            'wamid':              'varchar(255)',
            'payload':            'jsonb',
            'awaits_response':    'boolean',
            'receiver_id':        'varchar(255)',
            'receiver_number':    'varchar(20)',
            'wa_timestamp':       'timestamptz',
            'test_mode':          'boolean',
            'test_session_id':    'varchar(255)',
            'test_scenario_name': 'varchar(255)',
            'created_at':         'timestamptz',
        }) }}
    from source
)

select * from final
