{#
    The model holds exactly as many rows as `master_table` had in the master snapshot
    of the run being built (macro build_run_filter; replica_meta.table_loads, written
    by the runner inside the snapshot). No recorded load fails the test: a count that
    was never verified is not a pass. A model that may also hold rows master never
    had (leads with var local_only_leads = keep) counts only the rows
    `master_ids_from` marks as master's: a model with columns id and is_in_master.
#}
{% test row_count_matches_master(model, master_table, master_ids_from=none) %}
    {%- if not master_table -%}
        {{ exceptions.raise_compiler_error(
            "row_count_matches_master needs master_table (the master's table name)") }}
    {%- endif %}

with replica_count as (
    select count(*) as replica_rows
    from {{ model }} as replica_rows
    {%- if master_ids_from %}
        where replica_rows.id in (
            select origins.id from {{ ref(master_ids_from) }} as origins
            where origins.is_in_master
        )
    {%- endif %}
),

last_load as (
    select loads.master_rows
    from {{ source('replica_meta', 'table_loads') }} as loads
    inner join {{ source('replica_meta', 'runs') }} as runs
        on loads.run_id = runs.run_id
    where
        {{ build_run_filter('runs', master_table) }}
        and loads.table_name = '{{ master_table }}'
),

validation_errors as (
    select
        replica_count.replica_rows,
        last_load.master_rows
    from replica_count
    left join last_load on true
    where last_load.master_rows is distinct from replica_count.replica_rows
)

select * from validation_errors
{% endtest %}
