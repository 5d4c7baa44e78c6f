{#
    A lead's message analytics, one row: messages by direction, response times
    (median, 90th percentile, seconds), answered shares, the longest silence
    (lead_message_stats), then as JSON arrays its messages per day (the latest $2
    days that have any), per hour of the day (lead_message_activity), and its
    latest $3 BANT transitions with how long each status was held
    (lead_bant_transitions), of bant_transition_count.
        $1  lead id (uuid)
        $2  days (integer)
        $3  BANT transitions (integer)
#}
with stats as (
    select * from {{ ref('lead_message_stats') }}
),

activity_by_day as (
    select * from {{ ref('lead_message_activity') }}
),

activity_by_hour as (
    select * from {{ ref('lead_message_activity') }}
),

transitions as (
    select * from {{ ref('lead_bant_transitions') }}
),

days as (
    select
        activity_by_day.message_date,
        sum(activity_by_day.messages_in) as messages_in,
        sum(activity_by_day.messages_out) as messages_out
    from activity_by_day
    where activity_by_day.lead_id = $1::uuid
    group by activity_by_day.message_date
    order by activity_by_day.message_date desc
    limit $2::integer
),

hours as (
    select
        activity_by_hour.hour_of_day,
        sum(activity_by_hour.messages_in) as messages_in,
        sum(activity_by_hour.messages_out) as messages_out
    from activity_by_hour
    where activity_by_hour.lead_id = $1::uuid
    group by activity_by_hour.hour_of_day
),

lead_transitions as (
    select
        transitions.changed_at,
        transitions.status_change_id,
        transitions.from_status,
        transitions.to_status,
        transitions.changed_by,
        transitions.held_until,
        transitions.held_seconds,
        transitions.is_current,
        count(*) over () as transition_count
    from transitions
    where transitions.lead_id = $1::uuid
    order by transitions.changed_at desc, transitions.status_change_id desc
    limit $3::integer
)

select
    stats.*,
    (
        select coalesce(json_agg(days order by days.message_date), '[]')
        from days
    ) as by_day,
    (
        select coalesce(json_agg(hours order by hours.hour_of_day), '[]')
        from hours
    ) as by_hour,
    (
        select
            coalesce(
                json_agg(
                    json_build_object(
                        'changed_at', lead_transitions.changed_at,
                        'from_status', lead_transitions.from_status,
                        'to_status', lead_transitions.to_status,
                        'changed_by', lead_transitions.changed_by,
                        'held_until', lead_transitions.held_until,
                        'held_seconds', lead_transitions.held_seconds,
                        'is_current', lead_transitions.is_current
                    )
                    order by
                        lead_transitions.changed_at desc,
                        lead_transitions.status_change_id desc
                ),
                '[]'
            )
        from lead_transitions
    ) as bant_transitions,
    (
        select coalesce(max(lead_transitions.transition_count), 0)
        from lead_transitions
    ) as bant_transition_count
from stats
where stats.lead_id = $1::uuid
