{#
    The dashboard model holds exactly the rows of master's own dashboard view, as
    the runner captured it in the same snapshot as the tables (source master,
    table `master_view`), compared on `compare_columns`: every column but the
    volatile ones (ids and timestamps master makes on each read). Rows are
    compared as a multiset; each failing row says on which side it was found.

    Values are compared, not types: a column whose type in master's view differs
    from the model's (the CRM does not document them: a view may return a text
    null where the model has a numeric) is cast to the model's type (its base
    type: a varchar length or a numeric scale does not matter). The type
    difference itself is columns_match_master's note. On PostgreSQL 16 and later,
    a text value that is not a value of the model's type (`'n/a'` for a numeric)
    is a difference, listed in column `not_a_value`; before 16 the cast fails
    and says which value.

    When rows differ, the test logs them (dbt's log; the runner adds them to the
    node's message, the report and the CLI's error line):
    `… only in master: (need_qualified, 3, null, 27.27); only in the replica: …`.
#}
{% test matches_master_dashboard(model, master_view, compare_columns) %}
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

    {%- if execute -%}
        {{ log_differing_rows(
            comparison, model.identifier ~ " against master's view "
            ~ master_view ~ " (" ~ replica_columns ~ ")") }}
    {%- endif %}

{{ comparison }}
{% endtest %}

