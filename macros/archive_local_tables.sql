{#
    Before any model replaces them, copy the application's own tables (var
    `local_tables`, in the target schema) into var `local_archive_schema`, once.
    `archive_log` remembers each table, present or not, so that later builds never
    archive a table dbt itself built. Runs as an on-run-start hook, so `dbt build`
    by hand is as safe as `replica build`. A table the replica never had is created
    empty with the legacy columns (legacy_local_columns), so the local staging
    models always have rows to read, even none.
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
    {%- set legacy = legacy_local_columns() %}
    {%- if table in legacy %}
    create table if not exists {{ adapter.quote(archive) }}.{{ adapter.quote(table) }} (
        {{ legacy[table] | join(', ') }}
    );
    {%- endif %}
    {% endfor %}
{% endmacro %}


{#
    The application's legacy local tables as they were before replication
    (docs/master.md, "The application's local tables before replication"): the columns the
    local staging models read.
#}
{% macro legacy_local_columns() %}
    {{ return({
        'clients': ['id uuid', 'name varchar(255)', 'status varchar(50)',
                    'created_at timestamptz'],
        'projects': ['id uuid', 'name varchar(255)', 'client_id uuid',
                     'status varchar(50)', 'created_at timestamptz'],
        'leads': ['id uuid', 'name varchar(255)', 'phone varchar(50)',
                  'status varchar(50)', 'project_id uuid', 'created_at timestamptz'],
    }) }}
{% endmacro %}
