{#
    A lead's whole thread in time order: its conversation messages, and the
    WhatsApp messages that reached or left its number but were never stored as a
    conversation (those that were appear once, as the conversation, with their
    whatsapp_message_id). Compile and run:
        dbt compile --select lead_thread --vars '{lead_id: <uuid>}'
    then run target/compiled/.../analyses/lead_thread.sql. Without lead_id it
    shows the lead with the most WhatsApp messages.
#}
with leads as (
    select * from {{ ref('leads') }}
),

conversations as (
    select * from {{ ref('conversations') }}
),

conversation_links as (
    select * from {{ ref('int_conversations_linked_to_whatsapp_messages') }}
),

message_links as (
    select * from {{ ref('int_whatsapp_messages_linked_to_leads') }}
),

messages as (
    select * from {{ ref('whatsapp_messages') }}
),

chosen_lead as (
    {%- if var('lead_id', none) %}
        select '{{ var("lead_id") }}'::uuid as lead_id
    {%- else %}
        select lead_id
        from message_links
        where lead_id is not null
        group by lead_id
        order by count(*) desc, lead_id asc
        limit 1
    {%- endif %}
),

from_conversations as (
    select
        conversations."timestamp" as occurred_at,
        'conversation' as stored_as,
        case conversations.message_type
            when 'incoming' then 'inbound'
            else 'outbound'
        end as direction,
        conversations.message_content as message_text,
        conversations.id as conversation_id,
        conversation_links.whatsapp_message_id
    from conversations
    inner join chosen_lead on conversations.lead_id = chosen_lead.lead_id
    left join conversation_links
        on conversations.id = conversation_links.conversation_id
),

from_whatsapp_only as (
    select
        messages.wa_timestamp as occurred_at,
        'whatsapp_message' as stored_as,
        message_links.direction,
        messages.content as message_text,
        null::uuid as conversation_id,
        messages.id as whatsapp_message_id
    from message_links
    inner join chosen_lead on message_links.lead_id = chosen_lead.lead_id
    inner join messages on message_links.whatsapp_message_id = messages.id
    where not exists (
        select 1 from conversation_links
        where conversation_links.whatsapp_message_id = messages.id
    )
),

final as (
    select
        leads.name as lead_name,
        leads.phone as lead_phone,
        thread.occurred_at,
        thread.stored_as,
        thread.direction,
        thread.message_text,
        thread.conversation_id,
        thread.whatsapp_message_id
    from (
        select * from from_conversations
        union all
        select * from from_whatsapp_only
    ) as thread
    cross join chosen_lead
    inner join leads on chosen_lead.lead_id = leads.id
)

select * from final
order by occurred_at asc, conversation_id asc nulls last
