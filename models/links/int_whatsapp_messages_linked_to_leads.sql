{{
    config(
        materialized='table',
        indexes=[
            {'columns': ['whatsapp_message_id'], 'unique': true},
            {'columns': [
                'lead_id',
                '(' ~ thread_time('wa_timestamp', 'created_at') ~ ')',
                'whatsapp_message_id',
            ]},
            {'columns': ['wamid']},
        ],
    )
}}
{#
    Each WhatsApp message with its direction and its lead. A message sent from one
    of the clients' WhatsApp numbers is outbound and belongs to the lead whose
    phone is its receiver_number; any other is inbound and belongs to the lead
    whose phone is its sender_number. Numbers compare as bare digits (master keeps
    '+' in columns, not in payloads). Should two leads share a phone, the message
    goes to the earlier-created lead. Load-test rows rarely match a lead.
#}
with normalised as (
    select * from {{ ref('int_whatsapp_messages__normalised') }}
),

messages as (
    select * from {{ ref('whatsapp_messages') }}
),

leads as (
    select * from {{ ref('leads') }}
),

clients as (
    select * from {{ ref('clients') }}
),

business_numbers as (
    select distinct {{ phone_digits('whatsapp_phone_number') }} as phone_digits
    from clients
    where whatsapp_phone_number is not null
),

lead_phones as (
    select distinct on (phone_digits)
        phone_digits,
        lead_id
    from (
        select
            {{ phone_digits('phone') }} as phone_digits,
            id as lead_id,
            created_at
        from leads
    ) as numbered
    where phone_digits is not null
    order by phone_digits asc, created_at asc nulls last, lead_id asc
),

directed as (
    select
        normalised.whatsapp_message_id,
        normalised.wamid,
        normalised.is_test_mode,
        normalised.wa_timestamp,
        normalised.created_at,
        case
            when business_numbers.phone_digits is not null then 'outbound'
            else 'inbound'
        end as direction,
        case
            when business_numbers.phone_digits is not null
                then normalised.receiver_digits
            else normalised.sender_digits
        end as lead_phone_digits
    from normalised
    inner join messages on normalised.whatsapp_message_id = messages.id
    left join business_numbers
        on normalised.sender_digits = business_numbers.phone_digits
),

final as (
    select
        directed.whatsapp_message_id,
        lead_phones.lead_id,
        directed.wamid,
        directed.direction,
        directed.lead_phone_digits,
        directed.is_test_mode,
        directed.wa_timestamp,
        directed.created_at
    from directed
    left join lead_phones
        on directed.lead_phone_digits = lead_phones.phone_digits
)

select * from final
