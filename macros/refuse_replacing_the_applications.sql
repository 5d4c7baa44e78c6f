{#
    Pre-hook of the models the target schema holds (replica/, dashboards/): a
    `dbt build` by hand builds in place, and dbt replaces a relation by dropping
    it with cascade. Where the relation of the model's name is the
    application's (something of the application's hangs on it: a foreign key
    from another table, row-level security or a policy, a trigger, realtime
    publication membership, grants), the model fails with one line saying to run
    `replica build`, which builds beside and writes the rows into the
    application's table; nothing is dropped. The runner's builds (var
    schema_prefix) build beside, and are not concerned.
#}
{% macro refuse_replacing_the_applications() %}
    {%- if execute and var('schema_prefix', '') == '' -%}
        {%- set found = run_query(
            "select c.relkind::text from pg_catalog.pg_class as c"
            ~ " join pg_catalog.pg_namespace as n on n.oid = c.relnamespace"
            ~ " where n.nspname = " ~ dbt.string_literal(this.schema)
            ~ " and c.relname = " ~ dbt.string_literal(this.identifier)
            ~ " and (c.relrowsecurity or c.relacl is not null"
            ~ " or exists (select 1 from pg_catalog.pg_constraint as f"
            ~ "  where f.confrelid = c.oid and f.contype = 'f' and f.conrelid <> c.oid)"
            ~ " or exists (select 1 from pg_catalog.pg_policy as p where p.polrelid = c.oid)"
            ~ " or exists (select 1 from pg_catalog.pg_trigger as t"
            ~ "  where t.tgrelid = c.oid and not t.tgisinternal)"
            ~ " or exists (select 1 from pg_catalog.pg_publication_rel as r"
            ~ "  where r.prrelid = c.oid))") -%}
        {%- if found.rows | length > 0 -%}
            {{ exceptions.raise_compiler_error(
                this ~ " is the application's (its foreign keys, policies, grants,"
                ~ " triggers or publication hang on it): dbt build by hand would"
                ~ " replace it; run `replica build`, which builds beside and writes"
                ~ " its rows") }}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}
