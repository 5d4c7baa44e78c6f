{#
    The instant the replicated data describes: the master snapshot time of the run
    being built (env var CRM_REPLICA_RUN_ID, which the runner sets), else of the latest succeeded
    load, else now(). The dashboards count "today", "this week" and "the last 24
    hours" from it, as master's views did when the runner read them inside that
    same snapshot.
#}
{% macro snapshot_time() -%}
    (
        select coalesce(max(runs.snapshot_at), now())
        from {{ source('replica_meta', 'runs') }} as runs
        where {{ build_run_filter('runs') }}
    )
{%- endmacro %}


{#
    Which row of replica_meta.runs describes the data being built: the run of env
    var CRM_REPLICA_RUN_ID when the runner sets it (a sync builds before it
    publishes, so its run is not yet `succeeded`), else the latest succeeded run
    (that loaded `table_name`, when given). An env var, not a var: a var that
    changes every run makes dbt parse the whole project again every run, while a
    changed env var only has the nodes that use it parsed again.
#}
{% macro build_run_filter(runs, table_name=none) -%}
    {%- set run_id = env_var('CRM_REPLICA_RUN_ID', '') -%}
    {%- if run_id -%}
        {{ runs }}.run_id = {{ run_id | int }}
    {%- else -%}
        {{ runs }}.run_id = (
            select max(latest.run_id)
            from {{ source('replica_meta', 'runs') }} as latest
            {%- if table_name %}
                inner join {{ source('replica_meta', 'table_loads') }} as loaded
                    on latest.run_id = loaded.run_id
                    and loaded.table_name = '{{ table_name }}'
            {%- endif %}
            where latest.status = 'succeeded'
        )
    {%- endif -%}
{%- endmacro %}


{#
    True when master keeps `table_name` as a table (a stored snapshot: the run's
    load took its checksum) rather than a view it computes on read (whose
    volatile ids and timestamps leave master_checksum null), for the run being
    built; false when no load of it is recorded.
#}
{% macro master_keeps_a_table(table_name) %}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set found = run_query(
        "select loads.master_checksum is not null"
        ~ " from " ~ source('replica_meta', 'table_loads') ~ " as loads"
        ~ " inner join " ~ source('replica_meta', 'runs') ~ " as runs"
        ~ " on loads.run_id = runs.run_id"
        ~ " where loads.table_name = '" ~ table_name ~ "' and "
        ~ build_run_filter('runs', table_name)) -%}
    {{ return(found.rows | length > 0 and found.rows[0][0]) }}
{% endmacro %}
