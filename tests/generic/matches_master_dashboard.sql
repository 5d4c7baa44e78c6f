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

    Where master keeps the dashboard as a table (a snapshot a job stored, with
    its own updated_at) rather than a view computed in the run's snapshot, this
    test passes without comparing: dashboard_drift_from_master compares them
    instead, as a warning (macro master_keeps_a_table).

    When rows differ, the test logs them (dbt's log; the runner adds them to the
    node's message, the report and the CLI's error line):
    `… only in master: (need_qualified, 3, null, 27.27); only in the replica: …`.
#}
{% test matches_master_dashboard(model, master_view, compare_columns) %}
    {%- if execute and master_keeps_a_table(master_view) %}
select null::text as found where false
    {%- else %}
        {%- set comparison = dashboard_comparison(model, master_view, compare_columns) -%}
        {%- if observing() -%}
            {{ log_differing_rows(
                comparison, model.identifier ~ " against master's view "
                ~ master_view ~ " (" ~ compare_columns | join(', ') ~ ")") }}
        {%- endif %}
{{ comparison }}
    {%- endif %}
{% endtest %}


{#
    An observation (a warning, never a block): where master keeps the dashboard
    as a table, the stored snapshot against the dashboard the replica computes
    now, as a drift report in one line: `master's dashboard_business_kpis was
    computed 2025-06-05, 181 days before the snapshot; total_leads 11 there, 47
    now`. One row per differing row, as matches_master_dashboard's. Where master's
    dashboard is a view, matches_master_dashboard compares exactly instead.
#}
{% test dashboard_drift_from_master(model, master_view, compare_columns) %}
    {{ config(severity='warn') }}
    {%- if execute and not master_keeps_a_table(master_view) %}
select null::text as found where false
    {%- else %}
        {%- set comparison = dashboard_comparison(model, master_view, compare_columns) -%}
        {%- if observing() -%}
            {{ log_dashboard_drift(comparison, model, master_view, compare_columns) }}
        {%- endif %}
{{ comparison }}
    {%- endif %}
{% endtest %}
