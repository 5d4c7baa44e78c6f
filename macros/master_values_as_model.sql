{#
    Per compared column, what master's view gives, as a value of the model's
    type: {column, expression, not_a_value}. `not_a_value` (PostgreSQL 16 and
    later, text columns read as another type) names a value that is not one.
    Before execution (parsing), the columns as they are.
#}
{% macro master_values_as_model(model, master, columns) %}
    {%- set values = [] -%}
    {%- if not execute -%}
        {%- for column in columns -%}
            {%- do values.append(
                {'column': column, 'expression': column, 'not_a_value': none}) -%}
        {%- endfor -%}
        {{ return(values) }}
    {%- endif -%}
    {%- set wanted = base_types(model) -%}
    {%- set given = base_types(master) -%}
    {%- set version = run_query(
        "select current_setting('server_version_num')::integer").columns[0][0] -%}
    {%- set strings = ['text', 'character varying', 'character'] -%}
    {%- for column in columns -%}
        {%- set to_type = wanted.get(column) -%}
        {%- set from_type = given.get(column) -%}
        {%- if to_type is none or from_type is none or to_type == from_type -%}
            {%- do values.append(
                {'column': column, 'expression': column, 'not_a_value': none}) -%}
        {%- elif version >= 160000 and from_type in strings
            and to_type not in strings -%}
            {%- set valid = "pg_input_is_valid(" ~ column ~ ", '" ~ to_type ~ "')" -%}
            {%- do values.append({
                'column': column,
                'expression': "case when " ~ valid ~ " then cast(" ~ column
                    ~ " as " ~ to_type ~ ") end",
                'not_a_value': "case when not " ~ valid ~ " then '" ~ column
                    ~ " ' || quote_literal(" ~ column ~ ") end",
            }) -%}
        {%- else -%}
            {%- do values.append({
                'column': column,
                'expression': "cast(" ~ column ~ " as " ~ to_type ~ ")",
                'not_a_value': none,
            }) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(values) }}
{% endmacro %}


{# Column name -> base type (no varchar length, no numeric scale) of a relation. #}
{% macro base_types(relation) %}
    {%- set found = run_query(
        "select attname::text, format_type(atttypid, null) from pg_catalog.pg_attribute"
        ~ " where attrelid = to_regclass('" ~ relation ~ "')"
        ~ " and attnum > 0 and not attisdropped") -%}
    {%- set types = {} -%}
    {%- for row in found.rows -%}
        {%- do types.update({row[0]: row[1]}) -%}
    {%- endfor -%}
    {{ return(types) }}
{% endmacro %}
