{#
    The funnel's stages (seed funnel_stages, one bant_status each) with their lead
    counts; conversion_rate is the stage's share of all leads, rounded to 2
    places (null when there are no leads), as master's view computes it. Master's
    leads only (is_in_master).
#}
with merged_leads as (
    select * from {{ ref('int_leads__merged') }}
),

stages as (
    select * from {{ ref('funnel_stages') }}
),

leads as (
    select * from merged_leads
    where is_in_master
),

totals as (
    select count(*) as all_leads from leads
),

per_stage as (
    select
        stages.stage_name,
        stages.stage_order,
        count(leads.id) as lead_count
    from stages
    left join leads on stages.bant_status = leads.bant_status
    group by stages.stage_name, stages.stage_order
),

final as (
    select
        per_stage.stage_name,
        per_stage.lead_count,
        round(100.0 * per_stage.lead_count / nullif(totals.all_leads, 0), 2)
            as conversion_rate,
        per_stage.stage_order,
        now() as updated_at
    from per_stage
    cross join totals
)

select * from final
