{#
    Run a test's query and, when it returns rows, log them in one line, grouped
    by the test's `found` column: `<what>: only in master: (a, 1); only in the
    replica: (b, 2)`. At most `limit` rows are shown.
#}
{% macro log_differing_rows(query, what, limit=10) %}
    {%- set found = run_query(
        "select * from (" ~ query ~ ") as differing order by differing::text limit "
        ~ (limit + 1)) -%}
    {%- if found.rows | length == 0 -%}
        {{ return('') }}
    {%- endif -%}
    {%- set groups = {} -%}
    {%- for row in found.rows[:limit] -%}
        {%- set shown = [] -%}
        {%- for cell in row.values()[1:] -%}
            {%- do shown.append('null' if cell is none else cell | string) -%}
        {%- endfor -%}
        {%- do groups.setdefault(row[0], []).append('(' ~ shown | join(', ') ~ ')') -%}
    {%- endfor -%}
    {%- set parts = [] -%}
    {%- for side, rows in groups.items() -%}
        {%- do parts.append(side ~ ': ' ~ rows | join(', ')) -%}
    {%- endfor -%}
    {%- set more = ' (and more)' if found.rows | length > limit else '' -%}
    {{ log(what ~ ': ' ~ parts | join('; ') ~ more, info=True) }}
{% endmacro %}
