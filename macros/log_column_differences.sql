{#
    Run columns_match_master's query and, when it returns rows, log them in one
    line: `dashboard_bant_distribution: avg_score is numeric in the replica, text
    in master; master only: tier text`.
#}
{% macro log_column_differences(query, what) %}
    {%- set found = run_query(query ~ " order by 1") -%}
    {%- if found.rows | length == 0 -%}
        {{ return('') }}
    {%- endif -%}
    {%- set parts = [] -%}
    {%- for row in found.rows -%}
        {%- set ordinal, replica_column, replica_type, master_column, master_type
            = row.values() -%}
        {%- if master_column is none -%}
            {%- do parts.append('replica only: ' ~ replica_column ~ ' ' ~ replica_type) -%}
        {%- elif replica_column is none -%}
            {%- do parts.append('master only: ' ~ master_column ~ ' ' ~ master_type) -%}
        {%- elif replica_column == master_column -%}
            {%- do parts.append(replica_column ~ ' is ' ~ replica_type
                ~ ' in the replica, ' ~ master_type ~ ' in master') -%}
        {%- else -%}
            {%- do parts.append('column ' ~ ordinal ~ ' is ' ~ replica_column ~ ' '
                ~ replica_type ~ ' in the replica, ' ~ master_column ~ ' '
                ~ master_type ~ ' in master') -%}
        {%- endif -%}
    {%- endfor -%}
    {{ log(what ~ ': ' ~ parts | join('; '), info=True) }}
{% endmacro %}
