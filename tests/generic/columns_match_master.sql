{#
    The built table has master's columns: the same names, in the same order, with
    the same types (varchar lengths included) as `master_table` in the landing
    schema, which the runner creates with master's exact types. The contracts pin
    the documented schema at build time; this test reports where the master
    actually loaded differs from it (an added column, a changed length), one row
    per differing column.
#}
{% test columns_match_master(model, master_table) %}
    {%- if not master_table -%}
        {{ exceptions.raise_compiler_error(
            "columns_match_master needs master_table (the master's table name)") }}
    {%- endif %}
    {%- set landing = source('master', master_table) %}

with replica_columns as (
    select
        attributes.attnum as position,
        attributes.attname::text as column_name,
        format_type(attributes.atttypid, attributes.atttypmod) as data_type
    from pg_catalog.pg_attribute as attributes
    inner join pg_catalog.pg_class as tables
        on attributes.attrelid = tables.oid
    inner join pg_catalog.pg_namespace as schemas
        on tables.relnamespace = schemas.oid
    where
        schemas.nspname = '{{ model.schema }}'
        and tables.relname = '{{ model.identifier }}'
        and attributes.attnum > 0
        and not attributes.attisdropped
),

master_columns as (
    select
        attributes.attnum as position,
        attributes.attname::text as column_name,
        format_type(attributes.atttypid, attributes.atttypmod) as data_type
    from pg_catalog.pg_attribute as attributes
    inner join pg_catalog.pg_class as tables
        on attributes.attrelid = tables.oid
    inner join pg_catalog.pg_namespace as schemas
        on tables.relnamespace = schemas.oid
    where
        schemas.nspname = '{{ landing.schema }}'
        and tables.relname = '{{ landing.identifier }}'
        and attributes.attnum > 0
        and not attributes.attisdropped
),

numbered as (
    select
        column_name,
        data_type,
        row_number() over (order by position) as ordinal,
        'replica' as side
    from replica_columns
    union all
    select
        column_name,
        data_type,
        row_number() over (order by position) as ordinal,
        'master' as side
    from master_columns
),

validation_errors as (
    select
        ordinal,
        max(column_name) filter (where side = 'replica') as replica_column,
        max(data_type) filter (where side = 'replica') as replica_type,
        max(column_name) filter (where side = 'master') as master_column,
        max(data_type) filter (where side = 'master') as master_type
    from numbered
    group by ordinal
    having
        max(column_name) filter (where side = 'replica')
        is distinct from max(column_name) filter (where side = 'master')
        or max(data_type) filter (where side = 'replica')
        is distinct from max(data_type) filter (where side = 'master')
)

select * from validation_errors
{% endtest %}
