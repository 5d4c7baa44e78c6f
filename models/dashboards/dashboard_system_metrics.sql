{#
    Message processing in the 24 hours before the master snapshot (macro
    snapshot_time). Master reads a queue table that is not replicated; these are
    the same figures defined over replicated rows:
    - a queue item is an incoming conversation message ("timestamp" = enqueued);
    - processed: an agent log names it as triggering_message_id; otherwise failed
      or processing when its status says so; otherwise queued;
    - processing time: from the message to its first agent log, processed items;
    - max_retry_count: agent runs beyond the first on one item;
    - success rate: processed / (processed + failed), in percent, 2 places.
    Queue waits and priorities exist only in master's queue: null here (the test
    against master's view leaves those two columns out).
#}
with conversations as (
    select * from {{ ref('stg_master__conversations') }}
),

agent_logs as (
    select * from {{ ref('stg_master__agent_interaction_logs') }}
),

clock as (
    select {{ snapshot_time() }} as as_of
),

runs_per_message as (
    select
        triggering_message_id as conversation_id,
        count(*) as agent_runs,
        min(interaction_timestamp) as first_run_at
    from agent_logs
    where triggering_message_id is not null
    group by triggering_message_id
),

items as (
    select
        conversations."timestamp" as enqueued_at,
        runs_per_message.first_run_at,
        coalesce(runs_per_message.agent_runs, 0) as agent_runs,
        case
            when runs_per_message.conversation_id is not null then 'processed'
            when conversations.status in ('failed', 'processing')
                then conversations.status
            else 'queued'
        end as queue_status
    from conversations
    cross join clock
    left join runs_per_message
        on conversations.id = runs_per_message.conversation_id
    where
        conversations.message_type = 'incoming'
        and conversations."timestamp" >= clock.as_of - interval '24 hours'
),

final as (
    select
        gen_random_uuid() as id,
        count(*) as total_queue_items_24h,
        count(*) filter (where queue_status = 'processed') as processed_messages,
        count(*) filter (where queue_status = 'queued') as queued_messages,
        count(*) filter (where queue_status = 'failed') as failed_messages,
        count(*) filter (where queue_status = 'processing') as processing_messages,
        round(avg(extract(epoch from first_run_at - enqueued_at)), 2)
            as avg_processing_time_seconds,
        null::numeric as avg_queue_wait_time_seconds,
        max(greatest(agent_runs - 1, 0))::integer as max_retry_count,
        null::numeric as avg_queue_priority,
        round(
            100.0 * count(*) filter (where queue_status = 'processed')
            / nullif(count(*) filter (
                where queue_status in ('processed', 'failed')
            ), 0),
            2
        ) as success_rate_percentage,
        now() as updated_at,
        now() as created_at
    from items
)

select * from final
