{#
    The per-hour activity counts exactly the messages of each lead's thread (a test
    of the analytics against the thread they are built from; it runs beside
    lead_message_stats, not before it).
#}
with thread as (
    select * from {{ ref('lead_thread') }}
),

activity as (
    select * from {{ ref('lead_message_activity') }}
),

thread_counts as (
    select
        lead_id,
        count(*) as messages
    from thread
    where kind in ('message', 'conversation') and occurred_at > '-infinity'
    group by lead_id
),

activity_counts as (
    select
        lead_id,
        sum(messages) as messages
    from activity
    group by lead_id
),

validation_errors as (
    select
        coalesce(thread_counts.lead_id, activity_counts.lead_id) as lead_id,
        coalesce(thread_counts.messages, 0) as thread_messages,
        coalesce(activity_counts.messages, 0) as activity_messages
    from thread_counts
    full outer join activity_counts
        on thread_counts.lead_id = activity_counts.lead_id
    where
        coalesce(thread_counts.messages, 0)
        != coalesce(activity_counts.messages, 0)
)

select * from validation_errors
