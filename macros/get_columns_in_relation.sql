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
            found.column_name,
            found.data_type,
            null::integer as character_maximum_length,
            null::integer as numeric_precision,
            null::integer as numeric_scale
        from ({{ relation_columns(relation.schema, relation.identifier) }}) as found
        order by found.position
    {%- endcall -%}
    {%- set table = load_result('get_columns_in_relation').table -%}
    {{ return(sql_convert_columns_in_relation(table)) }}
{%- endmacro %}
