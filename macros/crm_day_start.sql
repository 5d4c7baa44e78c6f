{#
    The midnight that began the CRM's day at `instant` (a timestamptz): the day
    is the one of var crm_time_zone, where the CRM is run from, as master's views
    count "today". Explicit, so that neither the server's time zone nor the
    session's (a profile may set one) moves it.
#}
{% macro crm_day_start(instant) -%}
    {%- if not instant -%}
        {{ exceptions.raise_compiler_error("crm_day_start needs an instant") }}
    {%- endif -%}
    {%- set zone = "'" ~ (var('crm_time_zone') | replace("'", "''")) ~ "'" -%}
    (date_trunc('day', {{ instant }} at time zone {{ zone }}) at time zone {{ zone }})
{%- endmacro %}
