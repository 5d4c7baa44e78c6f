{#
    Master's leads as landed: every column master has, as it is, in master's
    order; then, as null, each column the models read (below, docs/master.md's)
    that this master lacks (said in the run's notes).
#}
with source as (
    select * from {{ source('master', 'leads') }}
),

final as (
    select
        {{ columns_or_null(source('master', 'leads'), {
            'id':                      'uuid',
            'name':                    'varchar(255)',
            'first_name':              'varchar(255)',
            'last_name':               'varchar(255)',
            'email':                   'varchar(255)',
            'phone':                   'varchar(50)',
            'status':                  'varchar(50)',
            'created_at':              'timestamptz',
            'updated_at':              'timestamptz',
            'client_id':               'uuid',
            'current_project_id':      'uuid',
            'state':                   'varchar(50)',
            'bant_status':             'varchar(50)',
            'state_status_metadata':   'jsonb',
            'lead_metadata':           'jsonb',
            'last_message_from':       'varchar(50)',
            'first_interaction':       'timestamptz',
            'last_interaction':        'timestamptz',
            'interaction_count':       'integer',
            'next_follow_up':          'timestamptz',
            'follow_up_count':         'integer',
            'requires_human_review':   'boolean',
            'last_agent_processed_at': 'timestamptz',
        }) }}
    from source
)

select * from final
