{#
    The value of a merge-policy var, checked: `local_only_leads` (archive | keep)
    and `local_conflict_policy` (master_wins | local_wins). README "The dbt
    project" explains both.
#}
{% macro merge_policy(name) -%}
    {%- set allowed = {
        'local_only_leads': ['archive', 'keep'],
        'local_conflict_policy': ['master_wins', 'local_wins'],
    } -%}
    {%- if name not in allowed -%}
        {{ exceptions.raise_compiler_error("merge_policy: unknown policy var " ~ name) }}
    {%- endif -%}
    {%- set value = var(name) -%}
    {%- if value not in allowed[name] -%}
        {{ exceptions.raise_compiler_error(
            "var " ~ name ~ " must be one of " ~ allowed[name] | join(", ")
            ~ ", not " ~ value) }}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}


{#
    `true` when var local_only_leads is `keep` (the legacy local-only leads are
    also replica leads), else `false`: a SQL literal for the models that filter
    on it.
#}
{% macro keeps_local_only_leads() -%}
    {{ 'true' if merge_policy('local_only_leads') == 'keep' else 'false' }}
{%- endmacro %}


{#
    A column of a replica table whose row may also exist locally: master's value,
    or the local row's value when `local_conflict_policy` is local_wins and the
    local row exists (joined as `local_alias` on the id).
#}
{% macro resolved_column(column, master_alias, local_alias) -%}
    {%- if not (column and master_alias and local_alias) -%}
        {{ exceptions.raise_compiler_error(
            "resolved_column needs column, master_alias and local_alias") }}
    {%- endif -%}
    {%- if merge_policy('local_conflict_policy') == 'local_wins' -%}
        case
            when {{ local_alias }}.id is not null then {{ local_alias }}.{{ column }}
            else {{ master_alias }}.{{ column }}
        end
    {%- else -%}
        {{ master_alias }}.{{ column }}
    {%- endif -%}
{%- endmacro %}


{#
    The merge rule's overrides for master_select: under local_wins, each of
    `columns` resolved (resolved_column); under master_wins, none.
#}
{% macro local_overrides(columns, master_alias, local_alias) -%}
    {%- set overrides = {} -%}
    {%- if merge_policy('local_conflict_policy') == 'local_wins' -%}
        {%- for column in columns -%}
            {%- do overrides.update(
                {column: resolved_column(column, master_alias, local_alias)}) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(overrides) }}
{%- endmacro %}


{#
    `expression in (…)`: the statuses var kpi_statuses lists under `kind`
    (qualified, new, converted, fully_qualified_bant); `false` for an empty list.
#}
{% macro status_in(expression, kind) -%}
    {%- set statuses = var('kpi_statuses', {}).get(kind) -%}
    {%- if statuses is none or statuses is string -%}
        {{ exceptions.raise_compiler_error(
            "var kpi_statuses." ~ kind ~ " must be a list of statuses") }}
    {%- endif -%}
    {%- if statuses | length == 0 -%}
        false
    {%- else -%}
        {{ expression }} in (
            {%- for status in statuses %}'{{ status | replace("'", "''") }}'
            {{- ', ' if not loop.last }}{% endfor -%}
        )
    {%- endif -%}
{%- endmacro %}
