{#
    A relation's columns from the catalog: position, name and type as PostgreSQL
    prints it (varchar lengths included); any schema when `schema_name` is none.
    For tests that compare shapes, and dbt's column introspection.
#}
{% macro relation_columns(schema_name, relation_name) %}
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
        tables.relname = '{{ relation_name }}'
        {%- if schema_name %}
        and schemas.nspname = '{{ schema_name }}'
        {%- endif %}
        and attributes.attnum > 0
        and not attributes.attisdropped
{% endmacro %}
