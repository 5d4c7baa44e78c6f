{#
    Independent evidence for the message-to-lead link, computed without the
    link's own normalisation (phone_digits) or its direction rule: the webhook
    payload names the lead's number as bare digits (an inbound body in
    entry[0].changes[0].value.messages[0].from and .contacts[0].wa_id, a send
    response in contacts[0].wa_id), and master keeps a lead's phone in E.164 with
    its '+'. A message whose payload names a lead's number must be linked to that
    lead; a break anywhere in the link shows up here.
#}
with messages as (
    select * from {{ ref('whatsapp_messages') }}
),

linked as (
    select * from {{ ref('int_whatsapp_messages_linked_to_leads') }}
),

leads as (
    select * from {{ ref('leads') }}
),

{# Two leads with one number: the earlier-created one is the number's lead. #}
lead_numbers as (
    select distinct on (ltrim(phone, '+'))
        id,
        ltrim(phone, '+') as number
    from leads
    where phone is not null
    order by ltrim(phone, '+') asc, created_at asc nulls last, id asc
),

named_in_payload as (
    select distinct
        messages.id as whatsapp_message_id,
        named.number
    from messages
    cross join
        lateral (
            values
            (messages.payload #>> '{entry,0,changes,0,value,messages,0,from}'),
            (messages.payload #>> '{entry,0,changes,0,value,contacts,0,wa_id}'),
            (messages.payload #>> '{contacts,0,wa_id}')
        ) as named (number)
    where named.number is not null
),

payload_leads as (
    select
        named_in_payload.whatsapp_message_id,
        named_in_payload.number,
        lead_numbers.id as lead_named_in_payload
    from named_in_payload
    inner join lead_numbers
        on named_in_payload.number = lead_numbers.number
),

validation_errors as (
    select
        payload_leads.whatsapp_message_id,
        payload_leads.number,
        payload_leads.lead_named_in_payload,
        linked.lead_id as linked_lead_id
    from payload_leads
    left join linked
        on payload_leads.whatsapp_message_id = linked.whatsapp_message_id
    where linked.lead_id is distinct from payload_leads.lead_named_in_payload
)

select * from validation_errors
