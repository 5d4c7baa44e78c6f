{{
    config(
        materialized='view',
        indexes=[
            {'columns': [
                'lead_id',
                '(' ~ thread_time('interaction_timestamp', 'created_at') ~ ')',
                'interaction_log_id',
            ]},
        ],
        post_hook="{{ index_landing_table(source('master', 'agent_interaction_logs')) }}",
    )
}}
{#
    The qualification agent's runs on a lead as its thread shows them: what it
    did, the BANT status it decided and the conversation turn that triggered it.
    A plain select from the landing table, flattened into the reads (see
    thread_conversation_turns), indexed in thread order within a lead.
#}
select
    lead_id,
    {{ thread_time('interaction_timestamp', 'created_at') }} as occurred_at,
    interaction_log_id as id,
    interaction_timestamp,
    n8n_action_taken as action_taken,
    n8n_determined_bant_status as bant_status,
    n8n_determined_lead_state as lead_state,
    n8n_determined_lead_status as lead_status,
    {{ column_or_null(source('master', 'agent_interaction_logs'),
        'triggering_message_id', 'uuid') }} as conversation_id
from {{ source('master', 'agent_interaction_logs') }}
