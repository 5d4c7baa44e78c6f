{{
    config(
        indexes=[{'columns': ['lead_id', 'changed_at', 'status_change_id']}],
    )
}}
{#
    Each change of a lead's BANT status (lead_status_history, status_type bant), in
    order, with how long the lead held the status it entered: until its next BANT
    change; the last one is current (held_until and held_seconds null: it is still
    held).
#}
with status_history as (
    select * from {{ ref('stg_master__lead_status_history') }}
),

bant_changes as (
    select
        lead_id,
        id as status_change_id,
        {{ thread_time('changed_at', 'created_at') }} as changed_at,
        previous_status as from_status,
        status as to_status,
        changed_by,
        reason
    from status_history
    where status_type = 'bant' and lead_id is not null
),

final as (
    select
        lead_id,
        status_change_id,
        changed_at,
        from_status,
        to_status,
        changed_by,
        reason,
        lead(changed_at) over by_time as held_until,
        extract(
            epoch from lead(changed_at) over by_time - changed_at
        )::double precision as held_seconds,
        lead(changed_at) over by_time is null as is_current
    from bant_changes
    window by_time as (
        partition by lead_id order by changed_at asc, status_change_id asc
    )
)

select * from final
