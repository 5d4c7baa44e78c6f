{#
    A relation's columns from the catalog: position, name and type as PostgreSQL
    prints it (varchar lengths included). For tests that compare shapes.
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
        schemas.nspname = '{{ schema_name }}'
        and tables.relname = '{{ relation_name }}'
        and attributes.attnum > 0
        and not attributes.attisdropped
{% endmacro %}
