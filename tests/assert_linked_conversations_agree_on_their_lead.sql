{{ config(severity='warn') }}
{#
    An observation of master's data (a warning with its figures, never a block):
    a conversation message and the WhatsApp message it stores (same wamid) name
    the same lead, the conversation by its lead_id, the WhatsApp message by phone
    (where several leads share the number, the link already prefers the
    conversation's lead: int_whatsapp_messages_linked_to_leads, its unit tests).
    A disagreement left is in master's data: a conversation filed under a lead
    whose phone is not the sender's.
#}
{%- set query %}
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
{%- endset %}
{{ log_observation(query,
    "count(*), (select count(*) from "
    ~ ref('int_conversations_linked_to_whatsapp_messages')
    ~ " where whatsapp_message_id is not null)",
    'conversations whose WhatsApp message names another lead: %s of the %s'
    ~ ' turns that store a message') }}
{{ query }}
