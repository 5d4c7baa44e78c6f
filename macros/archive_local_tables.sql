{#
    Before any model replaces them, copy the application's own tables (var
    `local_tables`, in the target schema) into var `local_archive_schema`, once.
    `archive_log` remembers each table, present or not, so that later builds never
    archive a table dbt itself built. Runs as an on-run-start hook, so `dbt build`
    by hand is as safe as `replica build`.
#}
{% macro archive_local_tables() %}
    {%- set archive = var('local_archive_schema') -%}
    {%- set home = target.schema -%}
    {%- if var('local_tables') is string -%}
        {{ exceptions.raise_compiler_error("var local_tables must be a list of table names") }}
    {%- endif -%}
    create schema if not exists {{ adapter.quote(archive) }};
    create table if not exists {{ adapter.quote(archive) }}.archive_log (
        table_name text primary key,
        is_present boolean not null,
        source_rows bigint not null,
        archived_at timestamptz not null default now()
    );
    {% for table in var('local_tables') %}
    do $archive$
    begin
        if not exists (
            select 1 from {{ adapter.quote(archive) }}.archive_log
            where table_name = '{{ table }}'
        ) then
            if to_regclass('{{ adapter.quote(home) }}.{{ adapter.quote(table) }}') is not null then
                create table {{ adapter.quote(archive) }}.{{ adapter.quote(table) }} as
                    table {{ adapter.quote(home) }}.{{ adapter.quote(table) }};
                insert into {{ adapter.quote(archive) }}.archive_log (table_name, is_present, source_rows)
                select '{{ table }}', true, count(*)
                from {{ adapter.quote(archive) }}.{{ adapter.quote(table) }};
            else
                insert into {{ adapter.quote(archive) }}.archive_log (table_name, is_present, source_rows)
                values ('{{ table }}', false, 0);
            end if;
        end if;
    end
    $archive$;
    {% endfor %}
{% endmacro %}
