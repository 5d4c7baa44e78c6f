{#
    The application's indexes for a replica table that is a view over its landing
    table (a 1:1 copy of master's: nothing is copied twice). The model declares them
    as any dbt model does (config `indexes`, which dbt-postgres applies to tables
    only); this post-hook builds them on the landing table the view reads, once:
    `if not exists`, under a name made from the table and columns. A read model
    passes the indexes its reads need on a table as `indexes` instead; an index
    may name its `type` (gin) and a `where` predicate (a partial index), and a
    column may be an expression in parentheses. A new index on an expression is
    followed by ANALYZE of the table: the planner estimates a condition on the
    expression (a text search) only from the statistics ANALYZE gathers for it.
    An index on a plain column this master's table lacks is left out, said in
    the run's notes: a real master may not have every column docs/master.md
    lists.
#}
{% macro index_landing_table(landing_table, indexes=none) %}
    {%- if landing_table is none -%}
        {{ exceptions.raise_compiler_error("index_landing_table needs the landing table") }}
    {%- endif -%}
    {%- set ns = namespace(analyze=false) -%}
    {%- set present = catalog_columns(landing_table) | map(attribute='name') | list -%}
    {%- for index in (config.get('indexes') if indexes is none else indexes) or [] %}
        {%- set columns = index['columns'] -%}
        {%- set absent = [] -%}
        {%- for column in columns if execute and '(' not in column
            and column.strip('"') not in present -%}
            {%- do absent.append(column.strip('"')) -%}
        {%- endfor -%}
        {%- if absent -%}
            {{ note(landing_table.identifier ~ ' has no ' ~ absent | join(', ')
                ~ ': its index is left out') }}
        {%- else -%}
        {%- set label = landing_table.identifier ~ '__' ~ modules.re.sub(
            '[^a-z0-9_]+', '_', (columns | join('_') | replace('"', '')) ~ (
                '_' ~ index['type'] if index.get('type') else '')
            ~ ('_where' if index.get('where') else '')
        ).strip('_') -%}
        {%- set name = label if label | length <= 55 else label[:46] ~ local_md5(label)[:8] %}
        {%- if execute and '(' in (columns | join(' ')) -%}
            {%- set found = run_query(
                "select to_regclass('" ~ adapter.quote(landing_table.schema) ~ "."
                ~ adapter.quote(name ~ '_idx') ~ "') is not null"
            ).columns[0].values()[0] -%}
            {%- if not found %}{% set ns.analyze = true %}{% endif -%}
        {%- endif %}
    create {{ 'unique ' if index.get('unique') }}index if not exists "{{ name }}_idx"
        on {{ landing_table }}
        {%- if index.get('type') %} using {{ index['type'] }}{% endif %}
        ({{ columns | join(', ') }})
        {%- if index.get('where') %} where {{ index['where'] }}{% endif %};
        {%- endif %}
    {%- endfor %}
    {%- if ns.analyze %}
    analyze {{ landing_table }};
    {%- endif %}
{% endmacro %}
