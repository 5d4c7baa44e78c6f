with source as (
    select * from {{ source('master', 'agent_interaction_logs') }}
),

final as (
    select
        interaction_log_id,
        lead_id,
        interaction_timestamp,
        agent_input_context,
        agent_raw_output,
        n8n_determined_lead_state,
        n8n_determined_lead_status,
        n8n_determined_bant_status,
        n8n_determined_bant_details,
        n8n_action_taken,
        created_at,
        triggering_message_id
    from source
)

select * from final
