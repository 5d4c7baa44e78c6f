{#
    The application's indexes for a replica table that is a view over its landing
    table (a 1:1 copy of master's: nothing is copied twice). The model declares them
    as any dbt model does (config `indexes`, which dbt-postgres applies to tables
    only); this post-hook builds them on the landing table the view reads, once:
    `if not exists`, under a name made from the table and columns.
#}
{% macro index_landing_table(landing_table) %}
    {%- if landing_table is none -%}
        {{ exceptions.raise_compiler_error("index_landing_table needs the landing table") }}
    {%- endif -%}
    {%- for index in config.get('indexes') or [] %}
        {%- set columns = index['columns'] -%}
        {%- set label = landing_table.identifier ~ '__' ~ (columns | join('_') | replace('"', '')) -%}
        {%- set name = label if label | length <= 55 else label[:46] ~ local_md5(label)[:8] %}
    create {{ 'unique ' if index.get('unique') }}index if not exists "{{ name }}_idx"
        on {{ landing_table }} ({{ columns | join(', ') }});
    {%- endfor %}
{% endmacro %}
