{#
    dbt-postgres's column introspection, with each column's type as PostgreSQL
    prints it (format_type) instead of information_schema's: an enum or a domain
    of master's is `USER-DEFINED` there, which a unit test's fixture then casts
    to and fails (`cast(null as USER-DEFINED)`). A real master has enums
    (processing_state); the replica lands them as master's types.
#}
{% macro postgres__get_columns_in_relation(relation) -%}
    {%- call statement('get_columns_in_relation', fetch_result=True) %}
        select
            attributes.attname::text as column_name,
            format_type(attributes.atttypid, attributes.atttypmod) as data_type,
            null::integer as character_maximum_length,
            null::integer as numeric_precision,
            null::integer as numeric_scale
        from pg_catalog.pg_attribute as attributes
        inner join pg_catalog.pg_class as tables
            on attributes.attrelid = tables.oid
        inner join pg_catalog.pg_namespace as schemas
            on tables.relnamespace = schemas.oid
        where
            tables.relname = '{{ relation.identifier }}'
            {%- if relation.schema %}
            and schemas.nspname = '{{ relation.schema }}'
            {%- endif %}
            and attributes.attnum > 0
            and not attributes.attisdropped
        order by attributes.attnum
    {%- endcall -%}
    {%- set table = load_result('get_columns_in_relation').table -%}
    {{ return(sql_convert_columns_in_relation(table)) }}
{%- endmacro %}
