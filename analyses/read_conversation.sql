{#
    A conversation turn with everything about it: the turn itself, its lead, its
    place in the lead's thread (occurred_at, id: read_thread's $2, $3; the thread
    time of macros/thread_time.sql), the
    WhatsApp message it stores (by wamid, when the replica has it), the
    validator's audit log of its status and the agent runs it triggered, the
    last three as JSON arrays.
        $1  conversation id (uuid)
#}
with conversations as (
    select * from {{ ref('conversations') }}
),

conversation_links as (
    select * from {{ ref('int_conversations_linked_to_whatsapp_messages') }}
),

leads as (
    select * from {{ ref('leads') }}
),

messages as (
    select * from {{ ref('whatsapp_messages') }}
),

message_links as (
    select * from {{ ref('int_whatsapp_messages_linked_to_leads') }}
),

audit_log as (
    select * from {{ ref('conversation_audit_log') }}
),

agent_logs as (
    select * from {{ ref('thread_agent_runs') }}
)

select
    conversations.id,
    conversations.lead_id,
    leads.name as lead_name,
    leads.phone as lead_phone,
    conversations."timestamp",
    conversations.message_content,
    conversations.message_type,
    conversations.status,
    conversations.message_id,
    conversation_links.wamid,
    conversations.metadata,
    conversations.validation_context,
    conversations.conversation_context,
    conversations.created_at,
    conversations.updated_at,
    coalesce(
        conversations."timestamp", conversations.created_at, '-infinity'::timestamptz
    ) as occurred_at,
    case conversations.message_type
        when 'incoming' then 'inbound'
        when 'outgoing' then 'outbound'
    end as direction,
    (
        select
            coalesce(
                json_agg(
                    json_build_object(
                        'id', messages.id,
                        'direction', message_links.direction,
                        'sender_number', messages.sender_number,
                        'receiver_number', messages.receiver_number,
                        'content', messages.content,
                        'wa_timestamp', messages.wa_timestamp,
                        'wamid', messages.wamid,
                        'awaits_response', messages.awaits_response,
                        'test_mode', messages.test_mode,
                        'payload', messages.payload
                    )
                ),
                '[]'
            )
        from messages
        left join message_links on messages.id = message_links.whatsapp_message_id
        where messages.id = conversation_links.whatsapp_message_id
    ) as whatsapp_messages,
    (
        select
            coalesce(
                json_agg(
                    json_build_object(
                        'id', audit_log.id,
                        'action', audit_log.action,
                        'from_status', audit_log.from_status,
                        'to_status', audit_log.to_status,
                        'validation_mode', audit_log.validation_mode,
                        'context', audit_log.context,
                        'created_at', audit_log.created_at
                    )
                    order by audit_log.created_at asc, audit_log.id asc
                ),
                '[]'
            )
        from audit_log
        where audit_log.conversation_id = conversations.id
    ) as audit_log,
    (
        select
            coalesce(
                json_agg(
                    json_build_object(
                        'interaction_log_id', agent_logs.id,
                        'interaction_timestamp', agent_logs.interaction_timestamp,
                        'action', agent_logs.action_taken,
                        'lead_state', agent_logs.lead_state,
                        'lead_status', agent_logs.lead_status,
                        'bant_status', agent_logs.bant_status
                    )
                    order by
                        agent_logs.interaction_timestamp asc,
                        agent_logs.id asc
                ),
                '[]'
            )
        from agent_logs
        where agent_logs.conversation_id = conversations.id
    ) as agent_interactions
from conversations
left join conversation_links
    on conversations.id = conversation_links.conversation_id
left join leads on conversations.lead_id = leads.id
where conversations.id = $1::uuid
