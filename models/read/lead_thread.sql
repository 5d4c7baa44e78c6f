{{ config(materialized='view') }}
{#
    A lead's thread: everything that happened with a lead, one row per event, in
    the keyset order (occurred_at, id). The messages, each once: the CRM's
    conversation turns (with the WhatsApp message each stores, when the replica
    has it) and the WhatsApp messages that link to the lead by phone (the link
    rules, models/links) but that no conversation stores; then the lead's status
    changes and the agent's runs.

    A turn shows its own text (body); when the WhatsApp message it stores says
    something else, its row carries that message's text too (message_body): the
    texts compared trimmed (spaces, tabs, line breaks), an empty one counting as
    none; null when they are the same, when the message has no text, or when the
    turn stores none the replica has. The row is still the turn's, so each message
    is still one row (a message several turns store is on each of them, as its
    whatsapp_message_id already is).

    This view is the definition: lead_details and the analytics count through it
    (the joins that only add columns are left joins on a unique key, which
    PostgreSQL drops when a query does not use their columns). The reads that page
    a thread or search it (analyses/read_thread.sql, read_search.sql) take each
    kind in order through its own index and merge them, as PostgreSQL cannot do
    that through a union of joins; tests/test_read.py checks they return exactly
    this view's rows, in its order.
#}
with message_links as (
    select * from {{ ref('thread_message_links') }}
),

messages as (
    select * from {{ ref('thread_whatsapp_messages') }}
),

{# Each import is read once: a CTE read twice would be materialised whole. #}
stored_messages as (
    select * from {{ ref('int_conversations_linked_to_whatsapp_messages') }}
),

turns as (
    select * from {{ ref('thread_conversation_turns') }}
),

conversation_links as (
    select * from {{ ref('int_conversations_linked_to_whatsapp_messages') }}
),

turn_messages as (
    select * from {{ ref('thread_whatsapp_messages') }}
),

status_changes as (
    select * from {{ ref('thread_status_changes') }}
),

agent_runs as (
    select * from {{ ref('thread_agent_runs') }}
),

whatsapp_only as (
    select
        message_links.lead_id,
        message_links.occurred_at,
        message_links.id,
        'message' as kind,
        message_links.direction,
        messages.body,
        null::text as message_body,
        null::text as status,
        null::text as previous_status,
        null::text as status_type,
        null::uuid as conversation_id,
        message_links.id as whatsapp_message_id,
        message_links.is_test_mode
    from message_links
    left join messages on message_links.id = messages.id
    where not exists (
        select 1 from stored_messages
        where stored_messages.whatsapp_message_id = message_links.id
    )
),

conversation_turns as (
    select
        turns.lead_id,
        turns.occurred_at,
        turns.id,
        'conversation' as kind,
        turns.direction,
        turns.body,
        case
            when
                btrim(turn_messages.body, E' \t\r\n')
                not in ('', coalesce(btrim(turns.body, E' \t\r\n'), ''))
                then turn_messages.body
        end as message_body,
        turns.status,
        null::text as previous_status,
        null::text as status_type,
        turns.id as conversation_id,
        conversation_links.whatsapp_message_id,
        false as is_test_mode
    from turns
    left join conversation_links on turns.id = conversation_links.conversation_id
    left join turn_messages
        on conversation_links.whatsapp_message_id = turn_messages.id
    where turns.lead_id is not null
),

lead_status_changes as (
    select
        lead_id,
        occurred_at,
        id,
        'status_change' as kind,
        null::text as direction,
        reason as body,
        null::text as message_body,
        status,
        previous_status,
        status_type,
        null::uuid as conversation_id,
        null::uuid as whatsapp_message_id,
        false as is_test_mode
    from status_changes
    where lead_id is not null
),

lead_agent_runs as (
    select
        lead_id,
        occurred_at,
        id,
        'agent_interaction' as kind,
        null::text as direction,
        action_taken as body,
        null::text as message_body,
        bant_status as status,
        null::text as previous_status,
        'bant' as status_type,
        conversation_id,
        null::uuid as whatsapp_message_id,
        false as is_test_mode
    from agent_runs
    where lead_id is not null
),

final as (
    select * from whatsapp_only
    union all
    select * from conversation_turns
    union all
    select * from lead_status_changes
    union all
    select * from lead_agent_runs
)

select * from final
