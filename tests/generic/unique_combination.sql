{#
    No two rows share the same values of `columns` together (what dbt-utils calls
    unique_combination_of_columns; no hub packages here).
#}
{% test unique_combination(model, columns) %}
    {%- if not columns or columns is string -%}
        {{ exceptions.raise_compiler_error(
            "unique_combination needs columns, a list of column names") }}
    {%- endif %}

with validation_errors as (
    select
        {{ columns | join(', ') }},
        count(*) as occurrences
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
)

select * from validation_errors
{% endtest %}
