{#
    An observation of master's data (it warns, never blocks a faithful copy): at
    least `min_fraction` of the model's rows have a non-null `column_name` (a link
    found). How many rows link is a fact of master's data (a CRM whose senders are
    mostly no lead's links few), so the figures are logged in one line for the
    sync's output and its report, and the thresholds are vars
    (dbt_project.yml). A link that quietly stops matching (a changed number
    format, a wamid suffix) shows here. Use the test's `where` config to restrict
    the rows that should link.
#}
{% test link_fraction_at_least(model, column_name, min_fraction) %}
    {{ config(severity='warn') }}
    {%- set threshold = min_fraction | float(-1) -%}
    {%- if min_fraction is none or threshold < 0 or threshold > 1 -%}
        {{ exceptions.raise_compiler_error(
            "link_fraction_at_least needs min_fraction, a number from 0 to 1") }}
    {%- endif %}
    {%- set query %}
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
        {{ threshold }} as min_fraction
    from counted
    where all_rows = 0 or linked_rows < {{ threshold }} * all_rows
)

select * from validation_errors
    {%- endset %}
    {%- if observing() %}
        {%- set found = run_query(query) -%}
        {%- if found.rows | length > 0 -%}
            {%- set row = found.rows[0] -%}
            {{ log(((model.identifier ~ '.') if model.identifier else '')
                ~ column_name ~ ': ' ~ row[1] ~ ' of '
                ~ row[0] ~ ' rows link (' ~ (100 * (row[2] or 0)) | round(1)
                ~ ' %); the threshold is ' ~ (100 * threshold) | round(1) ~ ' %',
                info=True) }}
        {%- endif -%}
    {%- endif %}
{{ query }}
{% endtest %}
