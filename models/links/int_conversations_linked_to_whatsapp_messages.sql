{{
    config(
        materialized='table',
        indexes=[
            {'columns': ['conversation_id'], 'unique': true},
            {'columns': ['lead_id', 'conversation_timestamp']},
            {'columns': ['whatsapp_message_id']},
        ],
    )
}}
{#
    Each conversation message with the WhatsApp message it stores, when the
    replica has it: conversations.message_id is `wamid.<id>.<epoch>`, and without
    its trailing `.<digits>` it is whatsapp_messages.wamid. message_lead_id is the
    lead the WhatsApp message links to by phone; it should be the conversation's
    own lead (tests/assert_linked_conversations_agree_on_their_lead.sql).
#}
with conversations as (
    select * from {{ ref('conversations') }}
),

linked_messages as (
    select * from {{ ref('int_whatsapp_messages_linked_to_leads') }}
),

by_wamid as (
    select distinct on (wamid)
        wamid,
        whatsapp_message_id,
        lead_id
    from linked_messages
    where wamid is not null
    order by wamid asc, created_at asc, whatsapp_message_id asc
),

final as (
    select
        conversations.id as conversation_id,
        conversations.lead_id,
        by_wamid.whatsapp_message_id,
        by_wamid.lead_id as message_lead_id,
        {{ wamid_of_message_id('conversations.message_id') }} as wamid,
        conversations.message_type,
        conversations."timestamp" as conversation_timestamp
    from conversations
    left join by_wamid
        on {{ wamid_of_message_id('conversations.message_id') }} = by_wamid.wamid
)

select * from final
