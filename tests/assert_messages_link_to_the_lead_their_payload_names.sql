{#
    Independent evidence for the message-to-lead link: the webhook payload names
    the lead's number too (inbound: messages[0].from; outbound: contacts[0].wa_id,
    bare digits). Every message whose payload names a lead's phone must be linked
    to that lead; a break in the column-side normalisation shows up here.
#}
with linked as (
    select * from {{ ref('int_whatsapp_messages_linked_to_leads') }}
),

normalised as (
    select * from {{ ref('int_whatsapp_messages__normalised') }}
),

leads as (
    select * from {{ ref('leads') }}
),

named_in_payload as (
    select
        linked.whatsapp_message_id,
        linked.lead_id as linked_lead_id,
        case linked.direction
            when 'inbound' then normalised.payload_sender_digits
            else normalised.payload_recipient_digits
        end as payload_digits
    from linked
    inner join normalised
        on linked.whatsapp_message_id = normalised.whatsapp_message_id
),

validation_errors as (
    select
        named_in_payload.whatsapp_message_id,
        named_in_payload.payload_digits,
        named_in_payload.linked_lead_id,
        leads.id as lead_named_in_payload
    from named_in_payload
    inner join leads
        on named_in_payload.payload_digits = {{ phone_digits('leads.phone') }}
    where named_in_payload.linked_lead_id is distinct from leads.id
)

select * from validation_errors
