{{ config(severity='warn') }}
{#
    An observation (a warning with its figures): the numbers several leads share
    (a real CRM has such duplicates) and how many messages each sent or received,
    every one of them linked to one lead by the rule of
    int_whatsapp_messages_linked_to_leads (whose unit tests pin it).
#}
{%- set query %}
with linked as (
    select * from {{ ref('int_whatsapp_messages_linked_to_leads') }}
),

validation_errors as (
    select
        lead_phone_digits,
        max(sharing_leads) as sharing_leads,
        count(*) as messages,
        count(distinct lead_id) as leads_linked
    from linked
    where sharing_leads > 1
    group by lead_phone_digits
)

select * from validation_errors
{%- endset %}
{{ log_observation(query, 'count(*), coalesce(sum(messages), 0)',
    'numbers several leads share: %s, with %s messages, each linked to one lead by the rule') }}
{{ query }}
