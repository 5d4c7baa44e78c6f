-- Supabase's API roles, which the application's grants and policies name: the
-- Data API (PostgREST) connects as authenticator and takes one of them per
-- request. On Supabase they exist already; the demo's embedded replica makes them.
do $roles$
begin
    if not exists (select 1 from pg_roles where rolname = 'anon') then
        create role anon nologin noinherit;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'authenticated') then
        create role authenticated nologin noinherit;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'service_role') then
        create role service_role nologin noinherit bypassrls;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'authenticator') then
        create role authenticator nologin noinherit;
    end if;
    if not pg_has_role('authenticator', 'anon', 'member') then
        grant anon, authenticated, service_role to authenticator;
    end if;
end
$roles$;
