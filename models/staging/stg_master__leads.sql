with source as (
    select * from {{ source('master', 'leads') }}
),

final as (
    select
        id,
        name,
        email,
        phone,
        status,
        created_at,
        updated_at,
        client_id,
        current_project_id,
        state,
        bant_status,
        state_status_metadata,
        lead_metadata,
        last_message_from,
        first_interaction,
        last_interaction,
        interaction_count,
        next_follow_up,
        follow_up_count,
        requires_human_review,
        last_agent_processed_at
    from source
)

select * from final
