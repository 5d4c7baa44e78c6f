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


{#
    in_vocabulary's line: how many rows hold values outside the vocabulary, of how
    many, and the values with their counts (the ten most common).
#}
{% macro log_outside_vocabulary(query, what) %}
    {%- set found = run_query(
        "select * from (" ~ query ~ ") as outside order by row_count desc, value") -%}
    {%- if found.rows | length == 0 -%}
        {{ return('') }}
    {%- endif -%}
    {%- set ns = namespace(outside=0) -%}
    {%- set shown = [] -%}
    {%- for row in found.rows -%}
        {%- set ns.outside = ns.outside + row[1] -%}
        {%- if loop.index <= 10 %}{% do shown.append(row[0] ~ ' ' ~ row[1]) %}{% endif -%}
    {%- endfor -%}
    {{ log(what ~ ': ' ~ ns.outside ~ ' of ' ~ found.rows[0][2]
        ~ ' rows outside the vocabulary: ' ~ shown | join(', ')
        ~ (', …' if found.rows | length > 10 else ''), info=True) }}
{% endmacro %}


{#
    dashboard_drift_from_master's line: when master's stored dashboard was
    computed (its latest updated_at), how long before the run's snapshot, and
    what differs: for a one-row dashboard each differing column (`total_leads 11
    there, 47 now`), else the rows found on one side only.
#}
{% macro log_dashboard_drift(comparison, model, master_view, compare_columns) %}
    {%- set master = source('master', master_view) -%}
    {%- set found = run_query("select * from (" ~ comparison ~ ") as differing") -%}
    {%- if found.rows | length == 0 -%}
        {{ return('') }}
    {%- endif -%}
    {%- set when = "" -%}
    {%- if 'updated_at' in catalog_columns(master) | map(attribute='name') | list -%}
        {%- set stamp = run_query(
            "select to_char(max(updated_at) at time zone 'UTC', 'YYYY-MM-DD'),"
            ~ " date_part('day', " ~ snapshot_time() ~ " - max(updated_at))::int"
            ~ " from " ~ master).rows[0] -%}
        {%- if stamp[0] -%}
            {%- set when = " was computed " ~ stamp[0] ~ ", " ~ stamp[1]
                ~ " days before the snapshot" -%}
        {%- endif -%}
    {%- endif -%}
    {%- set sides = {} -%}
    {%- for row in found.rows -%}
        {%- do sides.setdefault(row[0], []).append(row) -%}
    {%- endfor -%}
    {%- set parts = [] -%}
    {%- set there = sides.get('only in master', []) -%}
    {%- set now = sides.get('only in the replica', []) -%}
    {%- if there | length == 1 and now | length == 1 -%}
        {%- for column in compare_columns -%}
            {%- set old, new = there[0][loop.index], now[0][loop.index] -%}
            {%- if old | string != new | string -%}
                {%- do parts.append(column ~ ' ' ~ ('null' if old is none else old)
                    ~ ' there, ' ~ ('null' if new is none else new) ~ ' now') -%}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {%- for side, rows in sides.items() -%}
            {%- set shown = [] -%}
            {%- for row in rows[:10] -%}
                {%- set cells = [] -%}
                {%- for cell in row.values()[1:] -%}
                    {%- do cells.append('null' if cell is none else cell | string) -%}
                {%- endfor -%}
                {%- do shown.append('(' ~ cells | join(', ') ~ ')') -%}
            {%- endfor -%}
            {%- do parts.append(side ~ ': ' ~ shown | join(', ')
                ~ (' (and more)' if rows | length > 10 else '')) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ log("master's " ~ master_view ~ when ~ "; " ~ parts | join('; '), info=True) }}
{% endmacro %}


{#
    True when a test's observation (its log line) may query: while tests run
    (dbt build, dbt test), not at parse time nor in a compile or a lint, when the
    models a test reads may not be built yet.
#}
{% macro observing() %}
    {{ return(execute and flags.WHICH in ['build', 'test', 'retry']) }}
{% endmacro %}


{#
    A singular observation test's line: `figures` (a select list over the test's
    rows, read as `rows`; the first figure is their count) is run while tests
    run, and when the count is not zero `sentence` is logged with the figures in
    its `%s` places.
#}
{% macro log_observation(query, figures, sentence) %}
    {%- if observing() -%}
        {%- set found = run_query(
            "select " ~ figures ~ " from (" ~ query ~ ") as rows").rows[0] -%}
        {%- if found[0] > 0 -%}
            {{ log(sentence | format(*found), info=True) }}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}
