-- The application's own tables in the replica database before the first sync
-- (docs/master.md, "The application's local tables before replication").
create table if not exists clients (
    id uuid primary key,
    name varchar(255) not null,
    status varchar(50),
    created_at timestamptz default now()
);

create table if not exists projects (
    id uuid primary key,
    name varchar(255) not null,
    client_id uuid,
    status varchar(50),
    created_at timestamptz default now()
);

create table if not exists leads (
    id uuid primary key,
    name varchar(255),
    phone varchar(50),
    status varchar(50),
    project_id uuid,
    created_at timestamptz default now()
);
