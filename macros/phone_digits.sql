{#
    A phone number as bare digits: master keeps E.164 with '+' in its columns and
    bare digits inside webhook payloads; both normalise to the same text.
#}
{% macro phone_digits(column) -%}
    {%- if not column -%}
        {{ exceptions.raise_compiler_error("phone_digits needs a column") }}
    {%- endif -%}
    nullif(regexp_replace({{ column }}, '\D', '', 'g'), '')
{%- endmacro %}
