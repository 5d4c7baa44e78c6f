{#
    The comparison both dashboard tests run: the model's rows against master's
    (source master, `master_view`) on `compare_columns`, master's values cast to
    the model's types; one row per row found on one side only, with `found`.
#}
{% macro dashboard_comparison(model, master_view, compare_columns) %}
    {%- if not master_view -%}
        {{ exceptions.raise_compiler_error(
            "matches_master_dashboard needs master_view (master's view name)") }}
    {%- endif -%}
    {%- if not compare_columns or compare_columns is string -%}
        {{ exceptions.raise_compiler_error(
            "matches_master_dashboard needs compare_columns, a list of column names") }}
    {%- endif -%}
    {%- set master = source('master', master_view) -%}
    {%- set master_values = master_values_as_model(model, master, compare_columns) -%}
    {%- set checked = master_values | selectattr('not_a_value') | list -%}
    {%- set replica_columns = compare_columns | join(', ') -%}

    {%- set comparison -%}
with replica_rows as (
    select
        {{ replica_columns }}
        {%- if checked %},
        null::text as not_a_value
        {%- endif %}
    from {{ model }}
),

master_rows as (
    select
        {%- for value in master_values %}
        {{ value.expression }} as {{ value.column }}
        {%- if not loop.last or checked %},{% endif %}
        {%- endfor %}
        {%- if checked %}
        nullif(concat_ws(', '
            {%- for value in checked %}, {{ value.not_a_value }}{% endfor -%}
        ), '') as not_a_value
        {%- endif %}
    from {{ master }}
),

only_in_replica as (
    select * from replica_rows
    except all
    select * from master_rows
),

only_in_master as (
    select * from master_rows
    except all
    select * from replica_rows
),

validation_errors as (
    select
        'only in the replica' as found,
        only_in_replica.*
    from only_in_replica
    union all
    select
        'only in master' as found,
        only_in_master.*
    from only_in_master
)

select * from validation_errors
    {%- endset -%}

    {{ return(comparison) }}
{% endmacro %}

