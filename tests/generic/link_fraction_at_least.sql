{#
    At least `min_fraction` of the model's rows have a non-null `column_name` (a
    link found), and there is at least one row: a link that quietly stops
    matching (a changed number format, a wamid suffix) fails here. Use the test's
    `where` config to restrict the rows that should link.
#}
{% test link_fraction_at_least(model, column_name, min_fraction) %}
    {%- if min_fraction is none or min_fraction is string
        or min_fraction < 0 or min_fraction > 1 -%}
        {{ exceptions.raise_compiler_error(
            "link_fraction_at_least needs min_fraction, a number from 0 to 1") }}
    {%- endif %}

with counted as (
    select
        count(*) as all_rows,
        count({{ column_name }}) as linked_rows
    from {{ model }}
),

validation_errors as (
    select
        all_rows,
        linked_rows,
        round(linked_rows::numeric / nullif(all_rows, 0), 4) as linked_fraction,
        {{ min_fraction }} as min_fraction
    from counted
    where all_rows = 0 or linked_rows < {{ min_fraction }} * all_rows
)

select * from validation_errors
{% endtest %}
