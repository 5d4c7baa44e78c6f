{#
    dbt's index creation for a table model (its `indexes` config), leaving out an
    index on a plain column the built table lacks, said in the run's notes: a
    real master may not have every column docs/master.md lists, and the replica
    tables have master's columns only (index_landing_table does the same for the
    landing tables the read views read).
#}
{% macro postgres__create_indexes(relation) -%}
    {%- set present = catalog_columns(relation) | map(attribute='name') | list -%}
    {%- for index in config.get('indexes', default=[]) -%}
        {%- set absent = [] -%}
        {%- for column in index['columns'] if '(' not in column
            and column.strip('"') not in present -%}
            {%- do absent.append(column.strip('"')) -%}
        {%- endfor -%}
        {%- if absent -%}
            {%- do note(live_name(relation) ~ ' has no ' ~ absent | join(', ')
                ~ ': its index is left out') -%}
        {%- else -%}
            {%- set create_index_sql = get_create_index_sql(relation, index) -%}
            {%- if create_index_sql -%}
                {%- do run_query(create_index_sql) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
{%- endmacro %}
