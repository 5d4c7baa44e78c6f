{#
    The instant the replicated data describes: the master snapshot time of the run
    being built (var run_id, which the runner sets), else of the latest succeeded
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
    Which row of replica_meta.runs describes the data being built: the run of var
    run_id when the runner sets it (a sync builds before it publishes, so its run
    is not yet `succeeded`), else the latest succeeded run (that loaded
    `table_name`, when given).
#}
{% macro build_run_filter(runs, table_name=none) -%}
    {%- if var('run_id', none) is not none -%}
        {{ runs }}.run_id = {{ var('run_id') | int }}
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
