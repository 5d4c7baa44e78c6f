{#
    One row per column whose value differs between a local row and the master row
    with the same id: (table_name, id, column_name, local_value, master_value,
    resolution). `columns` pairs the local column with master's (leads'
    project_id is master's current_project_id); `local_wins_columns` are the master
    columns that take the local value under local_wins.
#}
{% macro local_conflicts(table_name, master_relation, local_relation, columns,
                         local_wins_columns=[]) %}
    {%- if not columns or columns is string -%}
        {{ exceptions.raise_compiler_error(
            "local_conflicts needs columns: a list of [local column, master column]") }}
    {%- endif -%}
    {%- set policy = merge_policy('local_conflict_policy') %}
    select
        '{{ table_name }}'::text as table_name,
        local_rows.id,
        compared.column_name,
        compared.local_value,
        compared.master_value,
        compared.resolution
    from {{ local_relation }} as local_rows
    inner join {{ master_relation }} as master_rows
        on local_rows.id = master_rows.id
    cross join lateral (
        values
        {%- for local_column, master_column in columns %}
            (
                '{{ master_column }}'::text,
                local_rows.{{ local_column }}::text,
                master_rows.{{ master_column }}::text,
                '{{ "local value kept" if policy == "local_wins"
                    and master_column in local_wins_columns
                    else "master value kept" }}'::text
            ){{ "," if not loop.last }}
        {%- endfor %}
    ) as compared (column_name, local_value, master_value, resolution)
    where compared.local_value is distinct from compared.master_value
{% endmacro %}
