{#
    Pre-hook of the models the target schema holds (replica/, dashboards/): a
    `dbt build` by hand builds in place, and dbt replaces a relation by dropping
    it with cascade. Where the relation of the model's name is the
    application's (something of the application's hangs on it: a foreign key
    from another table not the replica's own, a trigger, realtime publication membership; or, on a
    relation the replica did not publish itself, row-level security, a policy
    or grants), the model fails with one line saying to run `replica build`,
    which builds beside and writes the rows into the application's table;
    nothing is dropped. The runner's builds (var schema_prefix) build beside,
    and are not concerned.
#}
{% macro refuse_replacing_the_applications() %}
    {%- if execute and var('schema_prefix', '') == '' -%}
        {%- set published = var('meta_schema', 'replica_meta') ~ '.published' -%}
        {%- set logged = run_query(
            "select to_regclass(" ~ dbt.string_literal(published) ~ ") is not null"
        ).columns[0].values()[0] -%}
        {%- set ours = (
            "exists (select 1 from " ~ published ~ " as p"
            ~ " where p.schema_name = n.nspname and p.relation_name = c.relname)"
        ) if logged else "false" -%}
        {#- A foreign key of the replica's own tables (master's, among them) is not
            the application's. -#}
        {%- set theirs_key = (
            " and not exists (select 1 from " ~ published ~ " as p"
            ~ " join pg_catalog.pg_class as fc on fc.relname = p.relation_name"
            ~ " join pg_catalog.pg_namespace as fn on fn.oid = fc.relnamespace"
            ~ " and fn.nspname = p.schema_name where fc.oid = f.conrelid)"
        ) if logged else "" -%}
        {%- set found = run_query(
            "select c.relkind::text from pg_catalog.pg_class as c"
            ~ " join pg_catalog.pg_namespace as n on n.oid = c.relnamespace"
            ~ " where n.nspname = " ~ dbt.string_literal(this.schema)
            ~ " and c.relname = " ~ dbt.string_literal(this.identifier)
            ~ " and (exists (select 1 from pg_catalog.pg_constraint as f"
            ~ "  where f.confrelid = c.oid and f.contype = 'f' and f.conrelid <> c.oid"
            ~ theirs_key ~ ")"
            ~ " or exists (select 1 from pg_catalog.pg_trigger as t"
            ~ "  where t.tgrelid = c.oid and not t.tgisinternal)"
            ~ " or exists (select 1 from pg_catalog.pg_publication_rel as r"
            ~ "  where r.prrelid = c.oid)"
            ~ " or (not " ~ ours ~ " and (c.relrowsecurity or c.relacl is not null"
            ~ " or exists (select 1 from pg_catalog.pg_policy as p"
            ~ "  where p.polrelid = c.oid))))") -%}
        {%- if found.rows | length > 0 -%}
            {{ exceptions.raise_compiler_error(
                this ~ " is the application's (its foreign keys, policies, grants,"
                ~ " triggers or publication hang on it): dbt build by hand would"
                ~ " replace it; run `replica build`, which builds beside and writes"
                ~ " its rows") }}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}


{#
    Post-hook of the same models: a table `dbt build` by hand makes in place, in
    a database Supabase's Data API serves (its API roles exist), gets row-level
    security on and no grant to those roles, never more than master gives them.
    `replica build` gives it master's access (crm_replica/db/access.py).
#}
{% macro close_to_the_api() %}
    {%- if execute and var('schema_prefix', '') == '' -%}
        {%- set roles = run_query(
            "select rolname from pg_catalog.pg_roles"
            ~ " where rolname in ('anon', 'authenticated', 'service_role')"
            ~ " order by 1").columns[0].values() -%}
        {%- if roles | length > 0 -%}
            alter table {{ this }} enable row level security;
            revoke all on {{ this }} from public, {{ roles | join(', ') }}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}
