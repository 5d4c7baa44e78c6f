"""A second synthetic master, shaped the way real CRMs of this kind differ from
docs/master.md (the CRM team's own schema and data dumps show each of these):

- other and extra columns: lead names split into ``first_name``/``last_name``
  (``name`` null on every lead), ``source``, ``notes``, a ``processing_state``
  enum ``NOT NULL DEFAULT 'pending'`` on leads, clients and projects, two
  ``backend_*`` bookkeeping columns, ``whatsapp_messages.updated_at``;
- optional columns missing: ``leads.last_message_from``,
  ``agent_interaction_logs.triggering_message_id``,
  ``lead_status_history.changed_by``;
- the dashboards as plain tables holding a snapshot a job stored months ago
  (11 leads counted, 47 exist now);
- statuses outside docs/master.md's vocabulary (``purchase_ready``,
  ``evaluation``, a BANT status ``budget_confirmed``);
- most WhatsApp senders are no lead's number, and three pairs of leads share a
  phone number.

Every row is a function of its number (ids are md5 uuids), so the same master is
built every time: 13 clients, 16 projects, 47 leads, 510 conversations, 1,238
WhatsApp messages.
"""

from __future__ import annotations

import psycopg

COUNTS = {
    "clients": 13,
    "projects": 16,
    "leads": 47,
    "conversations": 510,
    "whatsapp_messages": 1238,
    "agent_interaction_logs": 120,
    "conversation_audit_log": 9,
    "lead_status_history": 80,
    "dashboard_bant_distribution": 3,
    "dashboard_business_kpis": 1,
    "dashboard_lead_funnel": 3,
    "dashboard_system_metrics": 1,
}

#: The columns this master has and docs/master.md's does not, per table.
EXTRA_COLUMNS = {
    "clients": ["processing_state"],
    "projects": ["processing_state"],
    "leads": [
        "first_name",
        "last_name",
        "source",
        "notes",
        "processing_state",
        "backend_lead_id",
        "backend_synced_at",
    ],
    "whatsapp_messages": ["updated_at"],
}
#: docs/master.md's columns this master lacks.
MISSING_COLUMNS = {
    "leads": ["last_message_from"],
    "agent_interaction_logs": ["triggering_message_id"],
    "lead_status_history": ["changed_by"],
}
#: Leads 45, 46 and 47 have the phones of leads 2, 5 and 9.
SHARED_PHONES = {45: 2, 46: 5, 47: 9}
#: When the stored dashboards were computed, and what they counted then.
DASHBOARDS_COMPUTED_AT = "2025-06-05 09:00:00+00"
STORED_TOTAL_LEADS = 11

# The CRM's statuses (not docs/master.md's) and BANT statuses, one outside it.
STATUSES = ["unqualified", "awareness", "evaluation", "purchase_ready"]
BANT = ["no_bant", "need_qualified", "partially_qualified", "budget_confirmed"]

SCHEMA = """
create type processing_state as enum ('pending', 'processing', 'done', 'failed');

create table clients (
    id uuid primary key default gen_random_uuid(),
    name varchar(255) not null,
    description text,
    status varchar(50),
    created_at timestamptz default now(),
    updated_at timestamptz default now(),
    contact_info jsonb,
    whatsapp_number_id varchar(255),
    whatsapp_phone_number varchar(50),
    processing_state processing_state not null default 'pending'
);

create table projects (
    id uuid primary key default gen_random_uuid(),
    name varchar(255) not null,
    description text,
    client_id uuid references clients (id),
    status varchar(50),
    settings jsonb,
    created_at timestamptz default now(),
    updated_at timestamptz default now(),
    metadata jsonb,
    processing_state processing_state not null default 'pending'
);

create table leads (
    id uuid primary key default gen_random_uuid(),
    name varchar(255),
    first_name varchar(255),
    last_name varchar(255),
    email varchar(255),
    phone varchar(50),
    status varchar(50) check (status in (
        'unqualified', 'awareness', 'evaluation', 'purchase_ready'
    )),
    source varchar(100),
    notes text,
    created_at timestamptz default now(),
    updated_at timestamptz default now(),
    client_id uuid references clients (id),
    current_project_id uuid references projects (id),
    state varchar(50),
    bant_status varchar(50),
    state_status_metadata jsonb,
    lead_metadata jsonb,
    first_interaction timestamptz,
    last_interaction timestamptz,
    interaction_count integer default 0,
    next_follow_up timestamptz,
    follow_up_count integer default 0,
    requires_human_review boolean default false,
    last_agent_processed_at timestamptz,
    processing_state processing_state not null default 'pending',
    backend_lead_id varchar(64),
    backend_synced_at timestamptz
);

create table conversations (
    id uuid primary key default gen_random_uuid(),
    lead_id uuid references leads (id) on delete cascade,
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
    id uuid primary key default gen_random_uuid(),
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
    created_at timestamptz default now(),
    updated_at timestamptz default now()
);

create table agent_interaction_logs (
    interaction_log_id uuid primary key default gen_random_uuid(),
    lead_id uuid references leads (id),
    interaction_timestamp timestamptz,
    agent_input_context jsonb,
    agent_raw_output jsonb,
    n8n_determined_lead_state text,
    n8n_determined_lead_status text,
    n8n_determined_bant_status text,
    n8n_determined_bant_details jsonb,
    n8n_action_taken text,
    created_at timestamptz default now()
);

create table conversation_audit_log (
    id uuid primary key default gen_random_uuid(),
    conversation_id uuid references conversations (id),
    action text not null,
    from_status text,
    to_status text,
    validation_mode text,
    context jsonb,
    created_at timestamptz default now()
);

create table lead_status_history (
    id uuid primary key default gen_random_uuid(),
    lead_id uuid references leads (id),
    status_type text not null,
    status text not null,
    previous_status text,
    reason text,
    status_metadata jsonb,
    changed_at timestamptz,
    created_at timestamptz default now()
);

-- The dashboards as the CRM's own scripts make them: tables a job fills.
create table dashboard_bant_distribution (
    bant_status varchar(50),
    lead_count bigint,
    avg_score numeric,
    percentage numeric,
    updated_at timestamptz default now()
);

create table dashboard_lead_funnel (
    stage_name text,
    lead_count bigint,
    conversion_rate numeric,
    stage_order integer,
    updated_at timestamptz default now()
);

create table dashboard_business_kpis (
    id uuid primary key default gen_random_uuid(),
    total_leads bigint,
    qualified_leads bigint,
    fully_qualified_leads bigint,
    avg_lead_score numeric,
    new_leads bigint,
    leads_today bigint,
    leads_this_week bigint,
    conversion_rate integer,
    updated_at timestamptz default now(),
    created_at timestamptz default now()
);

create table dashboard_system_metrics (
    id uuid primary key default gen_random_uuid(),
    total_queue_items_24h bigint,
    processed_messages bigint,
    queued_messages bigint,
    failed_messages bigint,
    processing_messages bigint,
    avg_processing_time_seconds numeric,
    avg_queue_wait_time_seconds numeric,
    max_retry_count integer,
    avg_queue_priority numeric,
    success_rate_percentage numeric,
    updated_at timestamptz default now(),
    created_at timestamptz default now()
);
"""

# Rows as functions of their number: md5 ids, times hours apart before now().
ROWS = """
insert into clients (id, name, status, created_at, updated_at, contact_info,
    whatsapp_number_id, whatsapp_phone_number, processing_state)
select md5('client' || i)::uuid, 'Client ' || i,
    case when i %% 4 = 0 then 'INACTIVE' else 'ACTIVE' end,
    now() - interval '300 days' + i * interval '1 day',
    now() - interval '20 days' + i * interval '1 hour',
    jsonb_build_object('email', 'office' || i || '@example.com'),
    'pn' || (1000 + i), '+9725000000' || lpad(i::text, 2, '0'),
    (array['pending', 'done']::processing_state[])[1 + i %% 2]
from generate_series(1, %(clients)s) as i;

insert into projects (id, name, client_id, status, settings, created_at,
    updated_at, processing_state)
select md5('project' || i)::uuid, 'Project ' || i,
    md5('client' || (1 + (i - 1) %% %(clients)s))::uuid, 'active', '{}',
    now() - interval '250 days' + i * interval '1 day',
    now() - interval '10 days', 'done'
from generate_series(1, %(projects)s) as i;

insert into leads (id, name, first_name, last_name, email, phone, status,
    source, notes, created_at, updated_at, client_id, current_project_id, state,
    bant_status, lead_metadata, first_interaction, last_interaction,
    interaction_count, requires_human_review, processing_state, backend_lead_id,
    backend_synced_at)
select md5('lead' || i)::uuid, null,
    (array['Noa', 'Yossi', 'Dana', 'Avi', 'Maya', 'Eli'])[1 + i %% 6],
    (array['Levi', 'Cohen', 'Mizrahi', 'Peretz'])[1 + i %% 4] || ' ' || i,
    case when i %% 3 = 0 then 'lead' || i || '@example.com' end,
    '+97254' || lpad(coalesce(
        (%(shared)s::jsonb ->> i::text)::int, i)::text, 7, '0'),
    (array['unqualified', 'awareness', 'evaluation', 'purchase_ready'])[1 + i %% 4],
    (array['whatsapp', 'website', 'referral'])[1 + i %% 3],
    case when i %% 5 = 0 then 'called back, wants a quote' end,
    now() - interval '200 days' + i * interval '4 days',
    now() - interval '3 days' + i * interval '1 minute',
    md5('client' || (1 + (i - 1) %% %(clients)s))::uuid,
    md5('project' || (1 + (i - 1) %% %(projects)s))::uuid,
    'new_lead',
    (array['no_bant', 'no_bant', 'need_qualified', 'partially_qualified',
        'budget_confirmed'])[1 + i %% 5],
    '{}', now() - interval '100 days', now() - interval '2 days', i %% 7,
    i %% 9 = 0, (array['pending', 'done']::processing_state[])[1 + i %% 2],
    'b-' || i, now() - interval '1 day'
from generate_series(1, %(leads)s) as i;

-- Most senders are no lead's: one message in ten is from or to a lead's phone
-- (the phone of lead 1 + i mod 47, which leads 45 to 47 share with others).
insert into whatsapp_messages (id, sender_number, content, wamid, payload,
    awaits_response, receiver_id, receiver_number, wa_timestamp, test_mode,
    test_session_id, test_scenario_name, created_at, updated_at)
select md5('message' || i)::uuid,
    case
        when i %% 20 = 0 then '+97254' || lpad(coalesce(
            (%(shared)s::jsonb ->> (1 + i %% %(leads)s)::text)::int,
            1 + i %% %(leads)s)::text, 7, '0')
        when i %% 20 = 10
            then '+9725000000' || lpad((1 + i %% %(clients)s)::text, 2, '0')
        else '+97258' || lpad((i * 7919 %% 100000)::text, 7, '0')
    end,
    'הודעה ' || i || case when i %% 3 = 0 then ' 👍' else '' end,
    case when i %% 4 = 0 then 'wamid.M' || i end,
    '{}', i %% 2 = 0, 'pn1001',
    case
        when i %% 20 = 10 then '+97254' || lpad(coalesce(
            (%(shared)s::jsonb ->> (1 + i %% %(leads)s)::text)::int,
            1 + i %% %(leads)s)::text, 7, '0')
        else '+972500000001'
    end,
    now() - interval '40 days' + i * interval '30 minutes',
    i %% 4 <> 0, case when i %% 4 <> 0 then 'session-' || i %% 9 end,
    case when i %% 4 <> 0 then 'load_test' end,
    now() - interval '40 days' + i * interval '30 minutes',
    now() - interval '40 days' + i * interval '30 minutes'
from generate_series(1, %(whatsapp_messages)s) as i;

-- A conversation in four stores a message: up to the 60th, the message 5 × i
-- (from its lead's phone: the conversation names that lead, which for three of
-- them is a lead sharing its phone with another); after, a wamid master lacks.
insert into conversations (id, lead_id, message_content, "timestamp", metadata,
    message_id, message_type, status, created_at, updated_at)
select md5('conversation' || i)::uuid,
    md5('lead' || (1 + case
        when i %% 4 = 0 and i <= 240 then 5 * i %% %(leads)s
        else i %% %(leads)s
    end))::uuid,
    'turn ' || i,
    now() - interval '39 days' + i * interval '1 hour',
    '{}',
    case
        when i %% 4 = 0 and i <= 240 then 'wamid.M' || 5 * i || '.' || (1700000000 + i)
        when i %% 4 = 0 then 'wamid.X' || i || '.' || (1700000000 + i)
    end,
    case when i %% 2 = 0 then 'incoming' else 'outgoing' end,
    'processed',
    now() - interval '39 days' + i * interval '1 hour',
    now() - interval '39 days' + i * interval '1 hour'
from generate_series(1, %(conversations)s) as i;

insert into agent_interaction_logs (interaction_log_id, lead_id,
    interaction_timestamp, agent_input_context, agent_raw_output,
    n8n_determined_lead_state, n8n_determined_lead_status,
    n8n_determined_bant_status, n8n_action_taken, created_at)
select md5('agent' || i)::uuid, md5('lead' || (1 + i %% %(leads)s))::uuid,
    now() - interval '30 days' + i * interval '5 hours', '{}', '{}',
    'contacted', 'evaluation', 'need_qualified', 'reply',
    now() - interval '30 days' + i * interval '5 hours'
from generate_series(1, %(agent_interaction_logs)s) as i;

insert into conversation_audit_log (id, conversation_id, action, from_status,
    to_status, created_at)
select md5('audit' || i)::uuid, md5('conversation' || i * 7)::uuid,
    'validated', 'pending', 'processed', now() - interval '5 days'
from generate_series(1, %(conversation_audit_log)s) as i;

insert into lead_status_history (id, lead_id, status_type, status,
    previous_status, reason, changed_at, created_at)
select md5('history' || i)::uuid, md5('lead' || (1 + i %% %(leads)s))::uuid,
    (array['status', 'bant_status'])[1 + i %% 2],
    (array['awareness', 'need_qualified'])[1 + i %% 2],
    (array['unqualified', 'no_bant'])[1 + i %% 2], 'agent',
    now() - interval '20 days' + i * interval '3 hours',
    now() - interval '20 days' + i * interval '3 hours'
from generate_series(1, %(lead_status_history)s) as i;

-- The dashboards a job stored long ago, when the CRM had 11 leads.
insert into dashboard_bant_distribution values
    ('no_bant', 8, null, 72.73, %(computed)s),
    ('need_qualified', 2, null, 18.18, %(computed)s),
    ('partially_qualified', 1, null, 9.09, %(computed)s);
insert into dashboard_lead_funnel values
    ('unqualified', 8, 72.73, 1, %(computed)s),
    ('consideration', 2, 18.18, 2, %(computed)s),
    ('intent', 1, 9.09, 3, %(computed)s);
insert into dashboard_business_kpis (total_leads, qualified_leads,
    fully_qualified_leads, avg_lead_score, new_leads, leads_today,
    leads_this_week, conversion_rate, updated_at, created_at)
values (%(stored_total)s, 0, 0, null, 7, 3, 4, 0, %(computed)s, %(computed)s);
insert into dashboard_system_metrics (total_queue_items_24h, processed_messages,
    queued_messages, failed_messages, processing_messages, max_retry_count,
    success_rate_percentage, updated_at, created_at)
values (40, 38, 1, 1, 0, 2, 97.44, %(computed)s, %(computed)s);
"""


def create(url: str) -> None:
    """Create the real-shaped master in the (empty) database at ``url``."""
    params = {
        **COUNTS,
        "shared": psycopg.types.json.Jsonb(
            {str(k): v for k, v in SHARED_PHONES.items()}
        ),
        "computed": DASHBOARDS_COMPUTED_AT,
        "stored_total": STORED_TOTAL_LEADS,
    }
    with psycopg.connect(url, autocommit=False) as conn:
        conn.execute(SCHEMA)
        for statement in ROWS.split(";\n"):
            if statement.strip():
                conn.execute(statement, params)
