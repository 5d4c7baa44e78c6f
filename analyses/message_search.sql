{#
    Messages containing a text, across conversations and WhatsApp messages, with
    their lead, newest first. Compile with the text to find:
        dbt compile --select message_search --vars '{search: דירה}'
#}
with conversations as (
    select * from {{ ref('conversations') }}
),

messages as (
    select * from {{ ref('whatsapp_messages') }}
),

message_links as (
    select * from {{ ref('int_whatsapp_messages_linked_to_leads') }}
),

leads as (
    select * from {{ ref('leads') }}
),

{#- The search text as a LIKE pattern: its own %, _ and \ match literally. #}
{%- set like_text = '%' ~ (var('search', '')
    | replace('\\', '\\\\') | replace('%', '\\%') | replace('_', '\\_')
    | replace("'", "''")) ~ '%' %}

pattern as (
    select '{{ like_text }}'::text as like_text
),

found as (
    select
        conversations."timestamp" as occurred_at,
        'conversation' as stored_as,
        conversations.lead_id,
        conversations.message_content as message_text
    from conversations
    cross join pattern
    where conversations.message_content ilike pattern.like_text
    union all
    select
        messages.wa_timestamp as occurred_at,
        'whatsapp_message' as stored_as,
        message_links.lead_id,
        messages.content as message_text
    from messages
    cross join pattern
    inner join message_links on messages.id = message_links.whatsapp_message_id
    where messages.content ilike pattern.like_text
),

final as (
    select
        found.occurred_at,
        found.stored_as,
        leads.name as lead_name,
        leads.phone as lead_phone,
        found.message_text
    from found
    left join leads on found.lead_id = leads.id
)

select * from final
order by occurred_at desc
