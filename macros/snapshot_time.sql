{#
    The instant the replicated data describes: the master snapshot time of the
    latest succeeded load (replica_meta.runs), or now() before any load. The
    dashboards count "today", "this week" and "the last 24 hours" from it, as
    master's views did when the runner read them inside that same snapshot.
#}
{% macro snapshot_time() -%}
    (
        select coalesce(max(runs.snapshot_at), now())
        from {{ source('replica_meta', 'runs') }} as runs
        where runs.status = 'succeeded'
    )
{%- endmacro %}
