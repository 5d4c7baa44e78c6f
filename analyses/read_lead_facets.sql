{#
    What the leads list can be filtered by, with how many leads have each value:
    facet bant_status, state or project (value: the project's id, label: its
    name). No parameters.
#}
with lead_details as (
    select * from {{ ref('lead_details') }}
),

facets as (
    select
        case
            when grouping(lead_details.bant_status) = 0 then 'bant_status'
            when grouping(lead_details.state) = 0 then 'state'
            else 'project'
        end as facet,
        coalesce(
            lead_details.bant_status,
            lead_details.state,
            lead_details.current_project_id::text
        ) as facet_value,
        case
            when grouping(lead_details.current_project_id) = 0
                then max(lead_details.project_name)
        end as facet_label,
        count(*) as lead_count
    from lead_details
    group by grouping sets (
        (lead_details.bant_status),
        (lead_details.state),
        (lead_details.current_project_id)
    )
)

select
    facets.facet,
    facets.facet_value,
    facets.lead_count,
    coalesce(facets.facet_label, facets.facet_value) as facet_label
from facets
where facets.facet_value is not null
order by facets.facet asc, facets.lead_count desc, facets.facet_value asc
