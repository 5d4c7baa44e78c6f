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

messages as (
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

{# One sort: by time, an inbound message before an outbound one of the same instant
    (which answers it). replies_before: the outbound messages before this one in
    that order; an inbound message's reply is the first outbound message of its
    group (the same lead and replies_before), if any. #}
ordered as (
    select
        lead_id,
        occurred_at,
        id,
        kind,
        direction,
        agent_ran,
        occurred_at - lag(occurred_at) over by_time as gap,
        coalesce(
            count(*) filter (where direction = 'outbound') over (
                by_time rows between unbounded preceding and 1 preceding
            ),
            0
        ) as replies_before
    from messages
    window by_time as (
        partition by lead_id
        order by occurred_at asc, direction = 'outbound' asc, id asc
    )
),

answered as (
    select
        lead_id,
        occurred_at,
        kind,
        direction,
        agent_ran,
        gap,
        min(occurred_at) filter (where direction = 'outbound') over (
            partition by lead_id, replies_before
        ) as reply_at,
        max(gap) over (partition by lead_id) as longest_gap
    from ordered
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
        max(answered.occurred_at) as last_message_at,
        max(answered.longest_gap) as longest_gap,
        min(answered.occurred_at - answered.gap) filter (
            where answered.gap = answered.longest_gap
        ) as longest_silence_from
    from answered
    group by answered.lead_id
),

final as (
    select
        leads.id as lead_id,
        responses.response_seconds_median,
        responses.response_seconds_p90,
        responses.longest_silence_from,
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
        responses.longest_silence_from + responses.longest_gap as longest_silence_to,
        extract(epoch from responses.longest_gap)::double precision
            as longest_silence_seconds
    from leads
    left join responses on leads.id = responses.lead_id
)

select * from final
