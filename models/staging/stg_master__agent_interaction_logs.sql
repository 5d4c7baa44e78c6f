{#
    Master's agent_interaction_logs as landed: every column master has, as it is, in master's
    order; then, as null, each column the models read (below, docs/master.md's)
    that this master lacks (said in the run's notes).
#}
with source as (
    select * from {{ source('master', 'agent_interaction_logs') }}
),

final as (
    select
        {{ columns_or_null(source('master', 'agent_interaction_logs'), {
            'interaction_log_id':          'uuid',
            'lead_id':                     'uuid',
            'interaction_timestamp':       'timestamptz',
            'agent_input_context':         'jsonb',
            'agent_raw_output':            'jsonb',
            'n8n_determined_lead_state':   'text',
            'n8n_determined_lead_status':  'text',
            'n8n_determined_bant_status':  'text',
            'n8n_determined_bant_details': 'jsonb',
            'n8n_action_taken':            'text',
            'created_at':                  'timestamptz',
            'triggering_message_id':       'uuid',
        }) }}
    from source
)

select * from final
