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
    '+' in columns, not in payloads). Load-test rows rarely match a lead.

    Several leads may share a phone number (real CRMs have such duplicates). Then
    the message goes, in this order, to: the lead of the conversation turn that
    stores it (same wamid), when that lead is one of them; else the one created
    most recently at or before the message (its thread time), the lead the
    number belonged to when it wrote; else (a message older than them all) the
    earliest created; ties by id. sharing_leads counts the leads the number
    has (the report counts the messages it decided).
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

conversations as (
    select * from {{ ref('conversations') }}
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
    select
        {{ phone_digits('phone') }} as phone_digits,
        id as lead_id,
        created_at,
        count(*) over (partition by {{ phone_digits('phone') }}) as sharing_leads
    from leads
    where {{ phone_digits('phone') }} is not null
),

stored_by as (
    select distinct on (wamid)
        {{ wamid_of_message_id('message_id') }} as wamid,
        lead_id
    from conversations
    where message_id is not null
    order by wamid asc, "timestamp" asc nulls last, id asc
),

directed as (
    select
        normalised.whatsapp_message_id,
        normalised.wamid,
        normalised.is_test_mode,
        normalised.wa_timestamp,
        normalised.created_at,
        {{ thread_time('normalised.wa_timestamp', 'normalised.created_at') }}
            as thread_time,
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

candidates as (
    select
        directed.whatsapp_message_id,
        lead_phones.lead_id,
        lead_phones.sharing_leads,
        row_number() over (
            partition by directed.whatsapp_message_id
            order by
                (stored_by.lead_id is not distinct from lead_phones.lead_id) desc,
                (lead_phones.created_at <= directed.thread_time) is true desc,
                case
                    when lead_phones.created_at <= directed.thread_time
                        then lead_phones.created_at
                end desc nulls last,
                lead_phones.created_at asc nulls last,
                lead_phones.lead_id asc
        ) as preference
    from directed
    inner join lead_phones
        on directed.lead_phone_digits = lead_phones.phone_digits
    left join stored_by on directed.wamid = stored_by.wamid
    where lead_phones.sharing_leads > 1
),

final as (
    select
        directed.whatsapp_message_id,
        directed.wamid,
        directed.direction,
        directed.lead_phone_digits,
        directed.is_test_mode,
        directed.wa_timestamp,
        directed.created_at,
        coalesce(unique_phones.lead_id, candidates.lead_id) as lead_id,
        coalesce(unique_phones.sharing_leads, candidates.sharing_leads, 0)
            as sharing_leads
    from directed
    left join lead_phones as unique_phones
        on
            directed.lead_phone_digits = unique_phones.phone_digits
            and unique_phones.sharing_leads = 1
    left join candidates
        on
            directed.whatsapp_message_id = candidates.whatsapp_message_id
            and candidates.preference = 1
)

select * from final
