{#
    A page of a lead's thread (lead_thread), newest first: its messages,
    conversation turns, status changes and agent runs.
        $1  lead id (uuid)
        $2  through_at, $3 through_id: the newest row of the page (inclusive);
            null: the latest
        $4  page size: returns up to $4 + 1 rows; an extra row means there is
            more, and is where the next (older) page starts: pass its occurred_at
            and id as $2 and $3
        $5  kinds (text[]): message, conversation, status_change,
            agent_interaction; null: all. A lead's conversations:
            '{conversation}'; its whole message history:
            '{message,conversation}'
    A conversation turn's row has its text (body) and, when the WhatsApp message
    it stores says something else (the texts compared trimmed; an empty one is
    none), that message's text (message_body; else null).
    Each kind is read newest first through its (lead_id, thread time, id) index
    and stops after a page; the four are merged. A deep page costs what the first
    does.
#}
with message_links as (
    select * from {{ ref('thread_message_links') }}
),

messages as (
    select * from {{ ref('thread_whatsapp_messages') }}
),

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

page_messages as (
    select
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
        message_links.id as whatsapp_message_id
    from message_links
    left join messages on message_links.id = messages.id
    where
        message_links.lead_id = $1::uuid
        and ($5::text[] is null or 'message' = any($5::text[]))
        and (
            $2::timestamptz is null
            or (message_links.occurred_at, message_links.id)
            <= ($2::timestamptz, $3::uuid)
        )
        and not exists (
            select 1 from stored_messages
            where stored_messages.whatsapp_message_id = message_links.id
        )
    order by message_links.occurred_at desc, message_links.id desc
    limit $4::integer + 1
),

page_turns as (
    select
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
        conversation_links.whatsapp_message_id
    from turns
    left join conversation_links on turns.id = conversation_links.conversation_id
    left join turn_messages
        on conversation_links.whatsapp_message_id = turn_messages.id
    where
        turns.lead_id = $1::uuid
        and ($5::text[] is null or 'conversation' = any($5::text[]))
        and (
            $2::timestamptz is null
            or (turns.occurred_at, turns.id) <= ($2::timestamptz, $3::uuid)
        )
    order by turns.occurred_at desc, turns.id desc
    limit $4::integer + 1
),

page_status_changes as (
    select
        status_changes.occurred_at,
        status_changes.id,
        'status_change' as kind,
        null::text as direction,
        status_changes.reason as body,
        null::text as message_body,
        status_changes.status,
        status_changes.previous_status,
        status_changes.status_type,
        null::uuid as conversation_id,
        null::uuid as whatsapp_message_id
    from status_changes
    where
        status_changes.lead_id = $1::uuid
        and ($5::text[] is null or 'status_change' = any($5::text[]))
        and (
            $2::timestamptz is null
            or (status_changes.occurred_at, status_changes.id)
            <= ($2::timestamptz, $3::uuid)
        )
    order by status_changes.occurred_at desc, status_changes.id desc
    limit $4::integer + 1
),

page_agent_runs as (
    select
        agent_runs.occurred_at,
        agent_runs.id,
        'agent_interaction' as kind,
        null::text as direction,
        agent_runs.action_taken as body,
        null::text as message_body,
        agent_runs.bant_status as status,
        null::text as previous_status,
        'bant' as status_type,
        agent_runs.conversation_id,
        null::uuid as whatsapp_message_id
    from agent_runs
    where
        agent_runs.lead_id = $1::uuid
        and ($5::text[] is null or 'agent_interaction' = any($5::text[]))
        and (
            $2::timestamptz is null
            or (agent_runs.occurred_at, agent_runs.id)
            <= ($2::timestamptz, $3::uuid)
        )
    order by agent_runs.occurred_at desc, agent_runs.id desc
    limit $4::integer + 1
),

page as (
    select * from page_messages
    union all
    select * from page_turns
    union all
    select * from page_status_changes
    union all
    select * from page_agent_runs
)

select * from page
order by occurred_at desc, id desc
limit $4::integer + 1
