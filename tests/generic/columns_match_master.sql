{#
    The built table has master's columns: the same names, in the same order, with
    the same types (varchar lengths included) as `master_table` in the landing
    schema, which the runner creates with master's exact types. The contracts pin
    the documented schema at build time; this test reports where the master
    actually loaded differs from it (an added column, a changed length), one row
    per differing column, also logged in one line (macro log_column_differences).
#}
{% test columns_match_master(model, master_table) %}
    {%- if not master_table -%}
        {{ exceptions.raise_compiler_error(
            "columns_match_master needs master_table (the master's table name)") }}
    {%- endif %}
    {%- set landing = source('master', master_table) %}
    {%- set query %}
with replica_columns as (
    {{ relation_columns(model.schema, model.identifier) }}
),

master_columns as (
    {{ relation_columns(landing.schema, landing.identifier) }}
),

numbered as (
    select
        column_name,
        data_type,
        row_number() over (order by position) as ordinal,
        'replica' as side
    from replica_columns
    union all
    select
        column_name,
        data_type,
        row_number() over (order by position) as ordinal,
        'master' as side
    from master_columns
),

validation_errors as (
    select
        ordinal,
        max(column_name) filter (where side = 'replica') as replica_column,
        max(data_type) filter (where side = 'replica') as replica_type,
        max(column_name) filter (where side = 'master') as master_column,
        max(data_type) filter (where side = 'master') as master_type
    from numbered
    group by ordinal
    having
        max(column_name) filter (where side = 'replica')
        is distinct from max(column_name) filter (where side = 'master')
        or max(data_type) filter (where side = 'replica')
        is distinct from max(data_type) filter (where side = 'master')
)

select * from validation_errors
    {%- endset %}
    {%- if observing() %}{{ log_column_differences(query, model.identifier) }}{% endif %}
{{ query }}
{% endtest %}
