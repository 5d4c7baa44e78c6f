{#
    When a row of a lead's thread happened: its own time column, else when master
    created the row, else -infinity (the start of the thread), so that every row
    has a place in the thread's keyset order (occurred_at, id). The read indexes are
    built on this same expression.
#}
{% macro thread_time(time_column, created_column) -%}
    {%- if not time_column or not created_column -%}
        {{ exceptions.raise_compiler_error("thread_time needs two columns") }}
    {%- endif -%}
    coalesce({{ time_column }}, {{ created_column }}, '-infinity'::timestamptz)
{%- endmacro %}
