{#
    A read table with a row per lead has exactly the leads of the replica: every
    lead once (a lead without messages too), and no other.
#}
{% test read_rows_match_leads(model) %}

with leads as (
    select id from {{ ref('leads') }}
),

read_rows as (
    select lead_id from {{ model }}
),

validation_errors as (
    select
        coalesce(leads.id, read_rows.lead_id) as lead_id,
        leads.id is null as only_in_read,
        read_rows.lead_id is null as missing
    from leads
    full outer join read_rows on leads.id = read_rows.lead_id
    where leads.id is null or read_rows.lead_id is null
)

select * from validation_errors

{% endtest %}
