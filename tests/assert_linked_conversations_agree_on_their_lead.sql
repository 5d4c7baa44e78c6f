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
{%- if execute %}
    {%- set found = run_query(
        "select count(*), (select count(*) from "
        ~ ref('int_conversations_linked_to_whatsapp_messages')
        ~ " where whatsapp_message_id is not null) from (" ~ query ~ ") as rows") -%}
    {%- if found.rows[0][0] > 0 -%}
        {{ log('conversations whose WhatsApp message names another lead: '
            ~ found.rows[0][0] ~ ' of the ' ~ found.rows[0][1]
            ~ ' turns that store a message', info=True) }}
    {%- endif -%}
{%- endif %}
{{ query }}
