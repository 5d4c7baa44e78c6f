{{
    config(
        indexes=[
            {'columns': ['lead_id'], 'unique': true},
            {'columns': ['last_activity_at', 'lead_id']},
        ],
    )
}}
{#
    One row per lead of the replica's leads: docs/master.md's 21 columns (null
    where this master lacks one), display_name (name, else first and last name:
    whichever master has), its client and project,
    what its thread holds (messages in and out, each message once: a conversation
    turn or a WhatsApp message no conversation stores; conversation turns; status
    changes; agent runs; first and last message: lead_message_stats counts them
    through lead_thread) and when its BANT status last changed. What a lead's page
    shows, read by id, and what the leads list filters, searches (name, phone
    digits) and pages by (last_activity_at, lead_id): the lead's latest event, or
    master's last_interaction if later, else when it was created.
#}
with merged_leads as (
    select * from {{ ref('int_leads__merged') }}
),

leads as (
    select * from merged_leads
    where
        is_in_master
        or {{ keeps_local_only_leads() }}
),

clients as (
    select * from {{ ref('clients') }}
),

projects as (
    select * from {{ ref('projects') }}
),

stats as (
    select * from {{ ref('lead_message_stats') }}
),

status_changes as (
    select * from {{ ref('thread_status_changes') }}
),

agent_runs as (
    select * from {{ ref('thread_agent_runs') }}
),

status_counts as (
    select
        lead_id,
        count(*) as status_changes,
        max(occurred_at) filter (where status_type = 'bant') as bant_changed_at,
        max(occurred_at) as last_status_change_at
    from status_changes
    where lead_id is not null
    group by lead_id
),

agent_counts as (
    select
        lead_id,
        count(*) as agent_interactions,
        max(occurred_at) as last_agent_run_at
    from agent_runs
    where lead_id is not null
    group by lead_id
),

final as (
    select
        leads.id as lead_id,
        leads.name,
        leads.display_name,
        leads.email,
        leads.phone,
        leads.status,
        leads.created_at,
        leads.updated_at,
        leads.client_id,
        leads.current_project_id,
        leads.state,
        leads.bant_status,
        leads.state_status_metadata,
        leads.lead_metadata,
        leads.last_message_from,
        leads.first_interaction,
        leads.last_interaction,
        leads.interaction_count,
        leads.next_follow_up,
        leads.follow_up_count,
        leads.requires_human_review,
        leads.last_agent_processed_at,
        clients.name as client_name,
        clients.status as client_status,
        projects.name as project_name,
        projects.status as project_status,
        stats.messages_in,
        stats.messages_out,
        stats.conversation_turns,
        stats.whatsapp_only_messages,
        stats.first_message_at,
        stats.last_message_at,
        status_counts.bant_changed_at,
        {{ phone_digits('leads.phone') }} as phone_digits,
        coalesce(status_counts.status_changes, 0) as status_changes,
        coalesce(agent_counts.agent_interactions, 0) as agent_interactions,
        coalesce(
            greatest(
                stats.last_message_at,
                status_counts.last_status_change_at,
                agent_counts.last_agent_run_at,
                leads.last_interaction
            ),
            leads.created_at,
            '-infinity'::timestamptz
        ) as last_activity_at
    from leads
    left join clients on leads.client_id = clients.id
    left join projects on leads.current_project_id = projects.id
    left join stats on leads.id = stats.lead_id
    left join status_counts on leads.id = status_counts.lead_id
    left join agent_counts on leads.id = agent_counts.lead_id
)

select * from final
