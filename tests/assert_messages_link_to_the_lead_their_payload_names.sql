{#
    Independent evidence for the message-to-lead link, computed without the
    link's own normalisation (phone_digits) or its direction rule: the webhook
    payload names the lead's number as bare digits (an inbound body in
    entry[0].changes[0].value.messages[0].from and .contacts[0].wa_id, a send
    response in contacts[0].wa_id), and master keeps a lead's phone in E.164 with
    its '+'. A message whose payload names a lead's number must be linked to a
    lead with that number (which one, where several leads share it, is the
    link's rule, pinned by its unit tests); a break anywhere in the link shows up
    here.
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

lead_numbers as (
    select
        id,
        ltrim(phone, '+') as number
    from leads
    where phone is not null
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

payload_numbers as (
    select distinct named_in_payload.whatsapp_message_id
    from named_in_payload
    inner join lead_numbers
        on named_in_payload.number = lead_numbers.number
),

validation_errors as (
    select
        payload_numbers.whatsapp_message_id,
        linked.lead_id as linked_lead_id
    from payload_numbers
    left join linked
        on payload_numbers.whatsapp_message_id = linked.whatsapp_message_id
    where not exists (
        select 1
        from named_in_payload
        inner join lead_numbers
            on named_in_payload.number = lead_numbers.number
        where
            named_in_payload.whatsapp_message_id
            = payload_numbers.whatsapp_message_id
            and lead_numbers.id = linked.lead_id
    )
)

select * from validation_errors
