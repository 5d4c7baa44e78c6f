{#
    Message processing over the last 24 hours, from replicated data (master reads a
    queue table that is not replicated). First version: a queue item is an incoming
    conversation; it is processed when an agent log names it as its triggering
    message, queued otherwise; processing time runs from the message to the agent's
    log. Failures, retries and priorities are not visible in replicated data: 0/null.
#}
with conversations as (
    select * from {{ ref('conversations') }}
),

agent_logs as (
    select * from {{ ref('agent_interaction_logs') }}
),

recent as (
    select
        conversations.id,
        conversations."timestamp" as received_at,
        min(agent_logs.interaction_timestamp) as processed_at
    from conversations
    left join agent_logs on conversations.id = agent_logs.triggering_message_id
    where
        conversations.message_type = 'incoming'
        and conversations."timestamp" >= now() - interval '24 hours'
    group by conversations.id, conversations."timestamp"
),

final as (
    select
        gen_random_uuid() as id,
        count(*) as total_queue_items_24h,
        count(processed_at) as processed_messages,
        count(*) - count(processed_at) as queued_messages,
        0 as failed_messages,
        0 as processing_messages,
        round(avg(extract(epoch from processed_at - received_at)), 2)
            as avg_processing_time_seconds,
        null::numeric as avg_queue_wait_time_seconds,
        0 as max_retry_count,
        null::numeric as avg_queue_priority,
        round(100.0 * count(processed_at) / nullif(count(*), 0), 2)
            as success_rate_percentage,
        now() as updated_at,
        now() as created_at
    from recent
)

select * from final
