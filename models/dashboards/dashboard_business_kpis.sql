{#
    One row of lead KPIs, as master's view computes them, at the master snapshot
    the data comes from (macro snapshot_time): which statuses are qualified,
    new and converted, and which BANT statuses fully qualified, is var
    kpi_statuses (defaults: docs/master.md's 'qualified', 'new', 'converted',
    'fully_qualified'), today =
    created since that day's midnight in the CRM's time zone (macro
    crm_day_start, var crm_time_zone), this week = the 7 days before it,
    conversion_rate = integer percent of converted leads. Master's
    leads only (is_in_master). id, updated_at and created_at are volatile, as in
    master's view.
#}
with merged_leads as (
    select * from {{ ref('int_leads__merged') }}
),

leads as (
    select * from merged_leads
    where is_in_master
),

snapshot as (
    select {{ snapshot_time() }} as as_of
),

clock as (
    select
        as_of,
        {{ crm_day_start('as_of') }} as day_start
    from snapshot
),

final as (
    select
        gen_random_uuid() as id,
        count(leads.id) as total_leads,
        count(leads.id) filter (
            where {{ status_in('leads.status', 'qualified') }}
        ) as qualified_leads,
        count(leads.id) filter (
            where {{ status_in('leads.bant_status', 'fully_qualified_bant') }}
        ) as fully_qualified_leads,
        null::numeric as avg_lead_score,
        count(leads.id) filter (
            where {{ status_in('leads.status', 'new') }}
        ) as new_leads,
        count(leads.id) filter (
            where leads.created_at >= clock.day_start
        ) as leads_today,
        count(leads.id) filter (
            where leads.created_at >= clock.as_of - interval '7 days'
        ) as leads_this_week,
        coalesce(
            100 * count(leads.id) filter (
                where {{ status_in('leads.status', 'converted') }}
            )
            / nullif(count(leads.id), 0),
            0
        )::integer as conversion_rate,
        now() as updated_at,
        now() as created_at
    from clock
    left join leads on true
    group by clock.as_of, clock.day_start
)

select * from final
