{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        schema='cache',
        on_schema_change='fail',
        indexes=[
            {'columns': ['whatsapp_message_id'], 'unique': true},
            {'columns': ['sender_digits']},
            {'columns': ['receiver_digits']},
            {'columns': ['wamid']},
        ],
    )
}}
{#
    Each WhatsApp message's numbers as bare digits (columns and payload), its wamid
    and times: what the links need, computed once per message. A message row does
    not change once written, so later builds only add the messages this table has
    not seen (an anti-join on the id); that is what keeps builds short at a million
    messages. `dbt build --full-refresh` recomputes everything (after a change of
    this model's logic). Rows master deleted drop out in the link model, which
    joins the replica's whatsapp_messages.

    A cache, not a published relation: it lives in var cache_schema, which a sync
    does not build beside and publish (macros/generate_schema_name.sql), so every
    build adds to it in place. That is safe because nothing the application reads
    reads it directly: the link model joins it to the messages of its own build,
    and rows for messages not (or no longer) there are never joined.
#}
with messages as (
    select * from {{ ref('stg_master__whatsapp_messages') }}
),

new_messages as (
    select messages.*
    from messages
    {%- if is_incremental() %}
        where not exists (
            select 1 from {{ this }} as seen
            where seen.whatsapp_message_id = messages.id
        )
    {%- endif %}
),

final as (
    select
        id as whatsapp_message_id,
        wamid,
        {{ phone_digits('sender_number') }} as sender_digits,
        {{ phone_digits('receiver_number') }} as receiver_digits,
        {{ phone_digits(
            "payload #>> '{entry,0,changes,0,value,messages,0,from}'") }}
            as payload_sender_digits,
        {{ phone_digits("payload #>> '{contacts,0,wa_id}'") }}
            as payload_recipient_digits,
        coalesce(test_mode, false) as is_test_mode,
        wa_timestamp,
        created_at
    from new_messages
)

select * from final
