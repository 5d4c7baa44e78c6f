-- The CRM application's own database in small, as a Supabase project holds it:
-- the replica lives here. Its CRM tables (clients, projects, leads,
-- conversations) are older than master's and of the application's shape; around
-- them, tables only the application has, with foreign keys into them; row-level
-- security and policies on every table (auth.uid() and membership tables); grants
-- to Supabase's API roles; webhook triggers; the realtime publication; a view of
-- its own. A sync writes master's rows into its tables and leaves every object
-- here as it was.
--
-- Run as the database's owner (Supabase's postgres). The roles anon,
-- authenticated and service_role exist (app_roles.sql).

create schema if not exists auth;

create table auth.users (
    id uuid primary key,
    email text not null unique
);

-- PostgREST sets request.jwt.claims for each request; auth.uid() is its sub.
create function auth.uid() returns uuid
language sql stable
as $$
    select nullif(
        nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub',
        ''
    )::uuid
$$;

grant usage on schema auth to anon, authenticated, service_role;
grant execute on function auth.uid() to anon, authenticated, service_role;

create type public.processing_state as enum ('pending', 'processing', 'done');

create table public.clients (
    id uuid primary key default gen_random_uuid(),
    name varchar(255) not null,
    status varchar(50),
    created_at timestamptz default now(),
    account_manager text
);

create table public.projects (
    id uuid primary key default gen_random_uuid(),
    name varchar(255) not null,
    client_id uuid references public.clients (id),
    status varchar(50),
    created_at timestamptz default now()
);

create table public.leads (
    id uuid primary key default gen_random_uuid(),
    name varchar(255),
    first_name text,
    last_name text,
    phone varchar(50),
    status varchar(50) constraint leads_status_not_blank check (status <> ''),
    client_id uuid references public.clients (id),
    current_project_id uuid references public.projects (id),
    processing_state public.processing_state not null default 'pending',
    created_at timestamptz default now(),
    updated_at timestamptz default now()
);

create table public.conversations (
    id uuid primary key default gen_random_uuid(),
    lead_id uuid references public.leads (id) on delete cascade,
    message_content text,
    "timestamp" timestamptz,
    message_type varchar(50),
    status varchar(50),
    created_at timestamptz default now()
);

comment on table public.leads is 'The CRM''s leads: master''s, and the ones this application created.';
comment on column public.leads.processing_state is 'Where the application''s backend is with the lead.';

-- Only the application's.
create table public.profiles (
    id uuid primary key references auth.users (id) on delete cascade,
    display_name text
);

create table public.client_members (
    client_id uuid not null references public.clients (id) on delete cascade,
    user_id uuid not null references auth.users (id) on delete cascade,
    primary key (client_id, user_id)
);

create table public.project_members (
    project_id uuid not null references public.projects (id) on delete cascade,
    user_id uuid not null references auth.users (id) on delete cascade,
    primary key (project_id, user_id)
);

create table public.lead_members (
    lead_id uuid not null references public.leads (id) on delete cascade,
    user_id uuid not null references auth.users (id) on delete cascade,
    primary key (lead_id, user_id)
);

create table public.conversation_members (
    conversation_id uuid not null references public.conversations (id) on delete cascade,
    user_id uuid not null references auth.users (id) on delete cascade,
    primary key (conversation_id, user_id)
);

create table public.notifications (
    id bigint generated always as identity primary key,
    lead_id uuid references public.leads (id) on delete set null,
    body text not null,
    created_at timestamptz not null default now()
);

-- Each call the webhooks would make to the application's backend.
create table public.webhook_calls (
    id bigint generated always as identity primary key,
    table_name text not null,
    operation text not null,
    row_id uuid,
    called_at timestamptz not null default now()
);

create function public.notify_backend() returns trigger
language plpgsql security definer set search_path = ''
as $$
begin
    insert into public.webhook_calls (table_name, operation, row_id)
    values (tg_table_name, tg_op, new.id);
    return new;
end
$$;

create trigger clients_webhook after insert or update on public.clients
for each row execute function public.notify_backend();
create trigger projects_webhook after insert or update on public.projects
for each row execute function public.notify_backend();
create trigger leads_webhook after insert or update on public.leads
for each row execute function public.notify_backend();

-- A view of the application's: the incoming messages of its leads, newest first.
create view public.lead_inbox with (security_invoker = on) as
select id, lead_id, message_content as content, "timestamp"
from public.conversations
where message_type = 'incoming';

-- Row-level security on every table: a user reads what their memberships allow.
alter table public.clients enable row level security;
alter table public.projects enable row level security;
alter table public.leads enable row level security;
alter table public.conversations enable row level security;
alter table public.profiles enable row level security;
alter table public.client_members enable row level security;
alter table public.project_members enable row level security;
alter table public.lead_members enable row level security;
alter table public.conversation_members enable row level security;
alter table public.notifications enable row level security;
alter table public.webhook_calls enable row level security;

create policy clients_members_read on public.clients for select to authenticated
using (exists (
    select 1 from public.client_members as m
    where m.client_id = clients.id and m.user_id = (select auth.uid())
));
create policy projects_members_read on public.projects for select to authenticated
using (exists (
    select 1 from public.project_members as m
    where m.project_id = projects.id and m.user_id = (select auth.uid())
));
create policy leads_members_read on public.leads for select to authenticated
using (exists (
    select 1 from public.lead_members as m
    where m.lead_id = leads.id and m.user_id = (select auth.uid())
));
create policy leads_members_update on public.leads for update to authenticated
using (exists (
    select 1 from public.lead_members as m
    where m.lead_id = leads.id and m.user_id = (select auth.uid())
));
create policy conversations_members_read on public.conversations for select to authenticated
using (exists (
    select 1 from public.lead_members as m
    where m.lead_id = conversations.lead_id and m.user_id = (select auth.uid())
));
create policy conversations_members_insert on public.conversations for insert to authenticated
with check (exists (
    select 1 from public.lead_members as m
    where m.lead_id = conversations.lead_id and m.user_id = (select auth.uid())
));
create policy profiles_own on public.profiles for all to authenticated
using (id = (select auth.uid()));
create policy client_members_own on public.client_members for select to authenticated
using (user_id = (select auth.uid()));
create policy project_members_own on public.project_members for select to authenticated
using (user_id = (select auth.uid()));
create policy lead_members_own on public.lead_members for select to authenticated
using (user_id = (select auth.uid()));
create policy conversation_members_own on public.conversation_members for select to authenticated
using (user_id = (select auth.uid()));
create policy notifications_members on public.notifications for select to authenticated
using (exists (
    select 1 from public.lead_members as m
    where m.lead_id = notifications.lead_id and m.user_id = (select auth.uid())
));

-- The Data API's access (Supabase no longer grants new tables by default).
grant usage on schema public to anon, authenticated, service_role;
grant select on public.clients, public.projects to anon;
grant select, insert, update on
    public.clients, public.projects, public.leads, public.conversations,
    public.profiles, public.lead_members, public.notifications
to authenticated;
grant select on public.client_members, public.project_members,
    public.conversation_members, public.lead_inbox
to authenticated;
grant all on all tables in schema public to service_role;

-- Supabase Realtime streams the CRM tables' changes to the application.
create publication supabase_realtime;
alter publication supabase_realtime add table
    public.clients, public.projects, public.leads, public.conversations;
