{#
    A conversation message and the WhatsApp message it stores (same wamid) belong
    to the same lead: the conversation by its lead_id, the WhatsApp message by
    phone. A disagreement means one of the two links is wrong.
#}
with linked as (
    select * from {{ ref('int_conversations_linked_to_whatsapp_messages') }}
),

validation_errors as (
    select
        conversation_id,
        whatsapp_message_id,
        lead_id,
        message_lead_id
    from linked
    where
        whatsapp_message_id is not null
        and message_lead_id is distinct from lead_id
)

select * from validation_errors
