{{ config(materialized='view') }}
{#
    The WhatsApp messages that link to a lead (models/links), in the thread's
    terms: thread time and direction. A plain select from the link table, flattened
    into the reads (see thread_conversation_turns), which page a lead's messages
    through the link table's (lead_id, thread time, whatsapp_message_id) index.
#}
select
    lead_id,
    {{ thread_time('wa_timestamp', 'created_at') }} as occurred_at,
    whatsapp_message_id as id,
    direction,
    is_test_mode
from {{ ref('int_whatsapp_messages_linked_to_leads') }}
where lead_id is not null
