{#
    Use a model's custom schema as it is (`public`, `replica_staging`), not
    `<target schema>_<custom schema>`: the application reads the replica tables in
    the schema it always used, and the names must not depend on the profile.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
