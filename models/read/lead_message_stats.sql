{{
    config(
        indexes=[{'columns': ['lead_id'], 'unique': true}],
        pre_hook="set local work_mem = '{{ var(\"read_work_mem\") }}'",
    )
}}
{#
    One row per lead: its messages (lead_thread's messages and conversation
    turns) by direction and kind, first and last, and how they were answered.

    - Response time: each inbound message is answered by the first outbound
      message at or after its time (one sent at the same instant counts, as 0 s);
      each inbound message of a burst waits for that same reply. Median and 90th
      percentile (continuous) over the answered inbound messages, in seconds.
    - answered_share: answered inbound messages / inbound messages (the outbound
      messages are the business's, its agent's, replies); agent_run_share:
      inbound conversation turns the qualification agent ran on (an agent log
      names the turn as its triggering message) / inbound conversation turns.
    - Longest silence: the longest time between two consecutive messages, either
      direction (the earliest, if several are as long); none with fewer than two
      messages.

    A lead without messages has zero counts and null times and shares.
#}
with leads as (
    select * from {{ ref('leads') }}
),

thread as (
    select * from {{ ref('lead_thread') }}
),

agent_runs as (
    select * from {{ ref('thread_agent_runs') }}
),

{# Narrow, and read by two windows: computed once. #}
messages as materialized (
    select
        thread.lead_id,
        thread.occurred_at,
        thread.id,
        thread.kind,
        thread.direction,
        thread.kind = 'conversation'
        and thread.direction = 'inbound'
        and exists (
            select 1 from agent_runs
            where agent_runs.conversation_id = thread.id
        ) as agent_ran
    from thread
    where thread.kind in ('message', 'conversation')
),

{# Descending, so that the frame (every message at or after this one's time, its
    peers included) grows from a fixed start: min() is computed incrementally. #}
answered as (
    select
        lead_id,
        occurred_at,
        id,
        kind,
        direction,
        agent_ran,
        min(occurred_at) filter (where direction = 'outbound') over (
            partition by lead_id order by occurred_at desc
        ) as reply_at
    from messages
),

gaps as (
    select
        lead_id,
        occurred_at,
        occurred_at - lag(occurred_at) over (
            partition by lead_id order by occurred_at asc, id asc
        ) as gap
    from messages
),

{# The partition's sort is the one lag() used: no second sort. #}
longest_gaps as (
    select
        lead_id,
        occurred_at,
        gap,
        max(gap) over (partition by lead_id) as longest_gap
    from gaps
),

silences as (
    select
        lead_id,
        max(longest_gap) as longest_gap,
        min(occurred_at - gap) filter (where gap = longest_gap)
            as longest_silence_from
    from longest_gaps
    group by lead_id
),

responses as (
    select
        answered.lead_id,
        count(*) filter (where answered.direction = 'inbound') as messages_in,
        count(*) filter (where answered.direction = 'outbound') as messages_out,
        count(*) filter (where answered.kind = 'conversation')
            as conversation_turns,
        count(*) filter (where answered.kind = 'message')
            as whatsapp_only_messages,
        count(answered.reply_at) filter (
            where answered.direction = 'inbound'
        ) as inbound_answered,
        count(*) filter (
            where answered.direction = 'inbound' and answered.kind = 'conversation'
        ) as inbound_turns,
        count(*) filter (where answered.agent_ran) as inbound_turns_agent_ran_on,
        percentile_cont(0.5) within group (
            order by extract(epoch from answered.reply_at - answered.occurred_at)
        ) filter (where answered.direction = 'inbound') as response_seconds_median,
        percentile_cont(0.9) within group (
            order by extract(epoch from answered.reply_at - answered.occurred_at)
        ) filter (where answered.direction = 'inbound') as response_seconds_p90,
        min(answered.occurred_at) as first_message_at,
        max(answered.occurred_at) as last_message_at
    from answered
    group by answered.lead_id
),

final as (
    select
        leads.id as lead_id,
        responses.response_seconds_median,
        responses.response_seconds_p90,
        silences.longest_silence_from,
        responses.first_message_at,
        responses.last_message_at,
        coalesce(responses.messages_in, 0) as messages_in,
        coalesce(responses.messages_out, 0) as messages_out,
        coalesce(responses.conversation_turns, 0) as conversation_turns,
        coalesce(responses.whatsapp_only_messages, 0) as whatsapp_only_messages,
        coalesce(responses.inbound_answered, 0) as inbound_answered,
        round(
            responses.inbound_answered::numeric
            / nullif(responses.messages_in, 0),
            4
        ) as answered_share,
        round(
            responses.inbound_turns_agent_ran_on::numeric
            / nullif(responses.inbound_turns, 0),
            4
        ) as agent_run_share,
        silences.longest_silence_from + silences.longest_gap as longest_silence_to,
        extract(epoch from silences.longest_gap)::double precision
            as longest_silence_seconds
    from leads
    left join responses on leads.id = responses.lead_id
    left join silences on leads.id = silences.lead_id
)

select * from final
