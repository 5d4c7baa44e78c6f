{#
    Where the newer page of a lead's thread starts (lead_thread): its rows after a
    point, oldest first, for a page that opened in the middle of a thread (at a
    search hit) to go on towards the latest.
        $1  lead id (uuid)
        $2  after_at, $3 after_id: the newest row shown (exclusive)
        $4  how many rows: the last one returned is the newest row of the newer
            page (read_thread's $2, $3)
        $5  kinds (text[]), as in read_thread; null: all
#}
with message_links as (
    select * from {{ ref('thread_message_links') }}
),

stored_messages as (
    select * from {{ ref('int_conversations_linked_to_whatsapp_messages') }}
),

turns as (
    select * from {{ ref('thread_conversation_turns') }}
),

status_changes as (
    select * from {{ ref('thread_status_changes') }}
),

agent_runs as (
    select * from {{ ref('thread_agent_runs') }}
),

newer_messages as (
    select
        message_links.occurred_at,
        message_links.id
    from message_links
    where
        message_links.lead_id = $1::uuid
        and ($5::text[] is null or 'message' = any($5::text[]))
        and (message_links.occurred_at, message_links.id)
        > ($2::timestamptz, $3::uuid)
        and not exists (
            select 1 from stored_messages
            where stored_messages.whatsapp_message_id = message_links.id
        )
    order by message_links.occurred_at asc, message_links.id asc
    limit $4::integer
),

newer_turns as (
    select
        turns.occurred_at,
        turns.id
    from turns
    where
        turns.lead_id = $1::uuid
        and ($5::text[] is null or 'conversation' = any($5::text[]))
        and (turns.occurred_at, turns.id) > ($2::timestamptz, $3::uuid)
    order by turns.occurred_at asc, turns.id asc
    limit $4::integer
),

newer_status_changes as (
    select
        status_changes.occurred_at,
        status_changes.id
    from status_changes
    where
        status_changes.lead_id = $1::uuid
        and ($5::text[] is null or 'status_change' = any($5::text[]))
        and (status_changes.occurred_at, status_changes.id)
        > ($2::timestamptz, $3::uuid)
    order by status_changes.occurred_at asc, status_changes.id asc
    limit $4::integer
),

newer_agent_runs as (
    select
        agent_runs.occurred_at,
        agent_runs.id
    from agent_runs
    where
        agent_runs.lead_id = $1::uuid
        and ($5::text[] is null or 'agent_interaction' = any($5::text[]))
        and (agent_runs.occurred_at, agent_runs.id) > ($2::timestamptz, $3::uuid)
    order by agent_runs.occurred_at asc, agent_runs.id asc
    limit $4::integer
),

newer as (
    select * from newer_messages
    union all
    select * from newer_turns
    union all
    select * from newer_status_changes
    union all
    select * from newer_agent_runs
)

select * from newer
order by occurred_at asc, id asc
limit $4::integer
