{#
    The dashboard model holds exactly the rows of master's own dashboard view, as
    the runner captured it in the same snapshot as the tables (source master,
    table `master_view`), compared on `compare_columns`: every column but the
    volatile ones (ids and timestamps master makes on each read). Rows are
    compared as a multiset; each failing row says on which side it was found.
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
    {%- set columns = compare_columns | join(', ') %}

with replica_rows as (
    select {{ columns }} from {{ model }}
),

master_rows as (
    select {{ columns }} from {{ source('master', master_view) }}
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
{% endtest %}
