with source as (
    select * from {{ source('master', 'whatsapp_messages') }}
),

final as (
    select
        id,
        sender_number,
        content,
        wamid,
        payload,
        awaits_response,
        receiver_id,
        receiver_number,
        wa_timestamp,
        test_mode,
        test_session_id,
        test_scenario_name,
        created_at
    from source
)

select * from final
