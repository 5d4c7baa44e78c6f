{#
    A model's schema: its custom schema names a layer (`staging`, `intermediate`,
    `reference`, `local_archive`) whose schema is var `<layer>_schema`, so that
    every schema name lives in the project's vars (which the runner passes back);
    without a custom schema, the target schema (`public`: where the application
    reads the replica tables; the names must not depend on the profile's
    `<target>_<custom>` default). A sync builds beside the live replica: var
    `schema_prefix` (`_crm_build_`) goes before every schema, and publishing moves
    the relations into the schemas without it; but for the `cache` layer, which
    builds add to in place (int_whatsapp_messages__normalised says why).
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {%- set schema = target.schema -%}
    {%- else -%}
        {%- set layer = custom_schema_name | trim -%}
        {%- set schema = var(layer ~ '_schema', layer) -%}
    {%- endif -%}
    {{ ('' if custom_schema_name == 'cache' else var('schema_prefix', '')) ~ schema }}
{%- endmacro %}
