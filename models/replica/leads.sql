{#
    The replica's leads: master's 21 columns. Master's leads always; the legacy
    local-only leads too when var local_only_leads is `keep` (lead_origins marks
    them), else they live in local_archive.local_only_leads.
#}
with merged as (
    select * from {{ ref('int_leads__merged') }}
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
    from merged
    where
        is_in_master
        or {{ keeps_local_only_leads() }}
)

select * from final
