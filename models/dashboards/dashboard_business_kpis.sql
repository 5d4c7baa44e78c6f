{#
    One row of lead KPIs, as master's view computes them at the time of the build:
    qualified = status 'qualified', fully qualified = bant_status 'fully_qualified',
    new = status 'new', today = created since midnight, this week = the last 7 days,
    conversion_rate = integer percent of leads with status 'converted'.
#}
with leads as (
    select * from {{ ref('leads') }}
),

final as (
    select
        gen_random_uuid() as id,
        count(*) as total_leads,
        count(*) filter (where status = 'qualified') as qualified_leads,
        count(*) filter (
            where bant_status = 'fully_qualified'
        ) as fully_qualified_leads,
        null::numeric as avg_lead_score,
        count(*) filter (where status = 'new') as new_leads,
        count(*) filter (
            where created_at >= date_trunc('day', now())
        ) as leads_today,
        count(*) filter (
            where created_at >= now() - interval '7 days'
        ) as leads_this_week,
        coalesce(
            100 * count(*) filter (where status = 'converted')
            / nullif(count(*), 0),
            0
        )::integer as conversion_rate,
        now() as updated_at,
        now() as created_at
    from leads
)

select * from final
