{#
    An observation of master's data, never a block on a faithful copy (it warns):
    the values of `column_name` outside `values`, docs/master.md's vocabulary, one
    row per value with its count, logged in one line with the figures (`leads.status:
    35 of 47 rows outside the vocabulary: purchase_ready 12, evaluation 12, …`)
    for the sync's output and its report. A master without the column has nothing
    to observe (said in the notes). `values_var` names a var that holds the
    values instead (lead_status_vocabulary).
#}
{% test in_vocabulary(model, column_name, values=none, values_var=none) %}
    {{ config(severity='warn') }}
    {%- if values_var %}{% set values = var(values_var) %}{% endif %}
    {%- if values is none or values is string or values | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            "in_vocabulary needs values (the documented values) or values_var") }}
    {%- endif %}
    {%- if execute and column_name not in catalog_columns(model)
        | map(attribute='name') | list %}
        {{ note(model.identifier ~ ' has no ' ~ column_name
            ~ ': its vocabulary is not observed') }}
select null::text as value, 0 as row_count where false
    {%- else %}
    {%- set query %}
with counted as (
    select
        {{ column_name }}::text as value,
        count(*) as row_count,
        sum(count(*)) over () as all_rows
    from {{ model }}
    group by 1
),

validation_errors as (
    select
        value,
        row_count,
        all_rows
    from counted
    where
        value is not null
        and value not in (
            {%- for value in values %}'{{ value }}'{{ ', ' if not loop.last }}{% endfor -%}
        )
)

select * from validation_errors
    {%- endset %}
    {%- if observing() %}{{ log_outside_vocabulary(query, model.identifier ~ '.' ~ column_name) }}{% endif %}
{{ query }}
    {%- endif %}
{% endtest %}
