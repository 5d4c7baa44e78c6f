-- The synthetic master: the CRM's tables as docs/master.md documents them,
-- plus the message queue (not replicated) and the four dashboard views.
create table clients (
    id uuid primary key,
    name varchar(255) not null,
    description text,
    status varchar(50),
    created_at timestamptz default now(),
    updated_at timestamptz default now(),
    contact_info jsonb,
    whatsapp_number_id varchar(255),
    whatsapp_phone_number varchar(50)
);

create table projects (
    id uuid primary key,
    name varchar(255) not null,
    description text,
    client_id uuid references clients (id),
    status varchar(50),
    settings jsonb,
    created_at timestamptz default now(),
    updated_at timestamptz default now(),
    metadata jsonb
);

create table leads (
    id uuid primary key,
    name varchar(255),
    email varchar(255),
    phone varchar(50),
    status varchar(50),
    created_at timestamptz default now(),
    updated_at timestamptz default now(),
    client_id uuid references clients (id),
    current_project_id uuid references projects (id),
    state varchar(50),
    bant_status varchar(50),
    state_status_metadata jsonb,
    lead_metadata jsonb,
    last_message_from varchar(50),
    first_interaction timestamptz,
    last_interaction timestamptz,
    interaction_count integer,
    next_follow_up timestamptz,
    follow_up_count integer,
    requires_human_review boolean,
    last_agent_processed_at timestamptz
);

create table conversations (
    id uuid primary key,
    lead_id uuid references leads (id),
    message_content text,
    "timestamp" timestamptz,
    metadata jsonb,
    message_id varchar(255),
    message_type varchar(50),
    status varchar(50),
    created_at timestamptz default now(),
    updated_at timestamptz default now(),
    validation_context jsonb,
    conversation_context jsonb
);

create table whatsapp_messages (
    id uuid primary key,
    sender_number varchar(20),
    content text,
    wamid varchar(255),
    payload jsonb,
    awaits_response boolean,
    receiver_id varchar(255),
    receiver_number varchar(20),
    wa_timestamp timestamptz,
    test_mode boolean,
    test_session_id varchar(255),
    test_scenario_name varchar(255),
    created_at timestamptz default now()
);

create table agent_interaction_logs (
    interaction_log_id uuid primary key,
    lead_id uuid references leads (id),
    interaction_timestamp timestamptz,
    agent_input_context jsonb,
    agent_raw_output jsonb,
    n8n_determined_lead_state text,
    n8n_determined_lead_status text,
    n8n_determined_bant_status text,
    n8n_determined_bant_details jsonb,
    n8n_action_taken text,
    created_at timestamptz default now(),
    triggering_message_id uuid
);

create table conversation_audit_log (
    id uuid primary key,
    conversation_id uuid references conversations (id),
    action text not null,
    from_status text,
    to_status text,
    validation_mode text,
    context jsonb,
    created_at timestamptz default now()
);

create table lead_status_history (
    id uuid primary key,
    lead_id uuid references leads (id),
    status_type text not null,
    status text not null,
    previous_status text,
    reason text,
    status_metadata jsonb,
    changed_at timestamptz,
    changed_by text,
    created_at timestamptz default now()
);

-- Not replicated: the dashboards' system metrics read it. The synthetic master
-- fills it from the incoming conversations and agent logs by the rules in
-- synthetic._queue, so the replica can recompute the view from replicated rows.
create table message_queue (
    id uuid primary key,
    whatsapp_message_id uuid,
    status varchar(50) not null,
    priority integer not null,
    retry_count integer not null,
    created_at timestamptz not null,
    processing_started_at timestamptz,
    processed_at timestamptz
);

create view dashboard_bant_distribution as
select
    bant_status,
    count(*) as lead_count,
    null::numeric as avg_score,
    round(100.0 * count(*) / sum(count(*)) over (), 2) as percentage,
    now() as updated_at
from leads
group by bant_status;

create view dashboard_lead_funnel as
with stages (bant_status, stage_name, stage_order) as (
    values
        ('no_bant', 'unqualified', 1),
        ('need_qualified', 'consideration', 2),
        ('partially_qualified', 'intent', 3)
),

totals as (select count(*) as all_leads from leads)

select
    stages.stage_name,
    count(leads.id) as lead_count,
    round(100.0 * count(leads.id) / nullif(max(totals.all_leads), 0), 2)
        as conversion_rate,
    stages.stage_order,
    now() as updated_at
from stages
cross join totals
left join leads on stages.bant_status = leads.bant_status
group by stages.stage_name, stages.stage_order;

-- "Today" is the day of the reading session's time zone (date_trunc of now()),
-- as a real view computes it: the CRM reads it in Israel's, and so does the runner
-- (settings.CRM_TIME_ZONE). "This week" is the 7 days before now(), in any zone.
create view dashboard_business_kpis as
select
    gen_random_uuid() as id,
    count(*) as total_leads,
    count(*) filter (where status = 'qualified') as qualified_leads,
    count(*) filter (where bant_status = 'fully_qualified') as fully_qualified_leads,
    null::numeric as avg_lead_score,
    count(*) filter (where status = 'new') as new_leads,
    count(*) filter (where created_at >= date_trunc('day', now())) as leads_today,
    count(*) filter (where created_at >= now() - interval '7 days') as leads_this_week,
    coalesce(
        (100 * count(*) filter (where status = 'converted') / nullif(count(*), 0)),
        0
    )::integer as conversion_rate,
    now() as updated_at,
    now() as created_at
from leads;

create view dashboard_system_metrics as
with recent as (
    select * from message_queue where created_at >= now() - interval '24 hours'
)
select
    gen_random_uuid() as id,
    count(*) as total_queue_items_24h,
    count(*) filter (where status = 'processed') as processed_messages,
    count(*) filter (where status = 'queued') as queued_messages,
    count(*) filter (where status = 'failed') as failed_messages,
    count(*) filter (where status = 'processing') as processing_messages,
    round(avg(extract(epoch from processed_at - processing_started_at)), 2)
        as avg_processing_time_seconds,
    round(avg(extract(epoch from processing_started_at - created_at)), 2)
        as avg_queue_wait_time_seconds,
    max(retry_count) as max_retry_count,
    round(avg(priority), 2) as avg_queue_priority,
    round(
        100.0 * count(*) filter (where status = 'processed')
        / nullif(count(*) filter (where status in ('processed', 'failed')), 0),
        2
    ) as success_rate_percentage,
    now() as updated_at,
    now() as created_at
from recent;
