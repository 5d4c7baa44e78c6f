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
