{{
    config(
        indexes=[
            {'columns': ['lead_id', 'message_date', 'hour_of_day'], 'unique': true},
        ],
        pre_hook="set local work_mem = '{{ var(\"read_work_mem\") }}'",
    )
}}
{#
    A lead's messages (lead_thread's messages and conversation turns) per calendar
    day and hour of the day, in var read_time_zone, by direction: one row per hour
    that has messages. Per day and per hour of the day are sums over it
    (analyses/read_lead_analytics.sql).
#}
with thread as (
    select * from {{ ref('lead_thread') }}
),

messages as (
    select
        lead_id,
        direction,
        occurred_at at time zone '{{ var("read_time_zone") }}' as local_time
    from thread
    where kind in ('message', 'conversation') and occurred_at > '-infinity'
),

final as (
    select
        lead_id,
        local_time::date as message_date,
        extract(hour from local_time)::integer as hour_of_day,
        count(*) filter (where direction = 'inbound') as messages_in,
        count(*) filter (where direction = 'outbound') as messages_out,
        count(*) as messages
    from messages
    group by lead_id, message_date, hour_of_day
)

select * from final
