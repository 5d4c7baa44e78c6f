{#
    Leads per bant_status and their share of all leads, as master's view computes
    it: percentage = round(100 * count / all leads, 2). avg_score stays null:
    master has no lead score yet. Counts master's leads only (is_in_master), so
    legacy local leads kept by var local_only_leads never shift a number.
#}
with merged_leads as (
    select * from {{ ref('int_leads__merged') }}
),

leads as (
    select * from merged_leads
    where is_in_master
),

counted as (
    select
        bant_status,
        count(*) as lead_count
    from leads
    group by bant_status
),

final as (
    select
        bant_status,
        lead_count,
        null::numeric as avg_score,
        round(100.0 * lead_count / sum(lead_count) over (), 2) as percentage,
        now() as updated_at
    from counted
)

select * from final
