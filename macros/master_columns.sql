{#
    A relation's columns from the catalog, in order: a list of {name, type}
    (type as PostgreSQL prints it: `character varying(50)`, a user type
    schema-qualified where the session would not find it). Empty at parse time,
    when nothing is queried. The replica's tables are master's tables: their
    columns are read here, from the landed table, never listed by hand. In a
    unit test a ref is its fixture (`__dbt__cte__<model>`), whose columns dbt
    took from the built model: those are read (a staging or intermediate model,
    in its layer's schema).
#}
{% macro catalog_columns(relation) %}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- if relation.identifier.startswith('__dbt__cte__') -%}
        {%- set name = relation.identifier[12:] -%}
        {%- set layer = {'stg': 'staging', 'int': 'intermediate'}.get(
            name.split('_')[0]) -%}
        {%- set relation = api.Relation.create(
            schema=generate_schema_name(layer, none), identifier=name) -%}
    {%- endif -%}
    {%- set found = run_query(
        relation_columns(relation.schema, relation.identifier) ~ ' order by 1') -%}
    {%- set columns = [] -%}
    {%- for row in found.rows -%}
        {%- do columns.append({'name': row[1], 'type': row[2]}) -%}
    {%- endfor -%}
    {{ return(columns) }}
{% endmacro %}


{#
    The select list of a staging model: every column `relation` has, as it is,
    in its order; then, for each column of `needs` ({name: type}: what the
    project's models read) that the relation lacks, `null::type as name`, said
    once in the run's notes (a line `note: …` that the runner collects), or
    its column `instead[name]` under that name when it has that one. A master
    without a column the models read builds all the same.
#}
{% macro columns_or_null(relation, needs={}, alias=none, instead={}) %}
    {%- set present = catalog_columns(relation) -%}
    {%- set names = present | map(attribute='name') | list -%}
    {%- set items = [] -%}
    {%- for column in present -%}
        {%- do items.append((alias ~ '.' if alias else '') ~ adapter.quote(column.name)) -%}
    {%- endfor -%}
    {%- set missing = [] -%}
    {%- for name, type in needs.items() if execute and name not in names -%}
        {%- if instead.get(name) in names -%}
            {%- do items.append(adapter.quote(instead[name]) ~ ' as ' ~ adapter.quote(name)) -%}
        {%- else -%}
            {%- do items.append('null::' ~ type ~ ' as ' ~ adapter.quote(name)) -%}
            {%- do missing.append(name) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if missing -%}
        {{ note(live_name(relation) ~ ' has no ' ~ missing | join(', ')
            ~ ': the models read it as null') }}
    {%- endif -%}
    {%- if not items -%}
        {# parse time: a placeholder that compiles #}
        {%- do items.append('null as ' ~ adapter.quote('_columns_at_run_time')) -%}
    {%- endif -%}
    {{ return(items | join(',\n        ')) }}
{% endmacro %}


{#
    One column the models read from `relation` (as `alias`, when given), or
    `null::type` when the relation lacks it (said in the run's notes): for the
    read views, which select from the landing tables directly, and the reads.
#}
{% macro column_or_null(relation, name, type, alias=none) -%}
    {%- if execute and name not in catalog_columns(relation) | map(attribute='name') | list -%}
        {{ note(live_name(relation) ~ ' has no ' ~ name ~ ': the models read it as null') }}
        null::{{ type }}
    {%- else -%}
        {{ (alias ~ '.' if alias else '') ~ adapter.quote(name) }}
    {%- endif -%}
{%- endmacro %}


{#
    The select list that makes a replica table master's: each column of master's
    `table_name` (the landed table) in master's order, from `alias`, as it is,
    or as `overrides` says ({column: expression}, for the merge rules). The
    columns the staging models add for the project (nulls for what master lacks)
    stay out.
#}
{% macro master_select(table_name, alias=none, overrides={}) %}
    {%- set items = [] -%}
    {%- for column in catalog_columns(source('master', table_name)) -%}
        {%- set quoted = adapter.quote(column.name) -%}
        {%- if column.name in overrides -%}
            {%- do items.append(overrides[column.name] ~ ' as ' ~ quoted) -%}
        {%- else -%}
            {%- do items.append((alias ~ '.' if alias else '') ~ quoted) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if not items -%}
        {%- do items.append((alias ~ '.' if alias else '') ~ '*') -%}
    {%- endif -%}
    {{ return(items | join(',\n        ')) }}
{% endmacro %}


{#
    A line for the run's notes: logged once per model as `note: …`, which the
    runner gathers into the sync's output and its report.
#}
{% macro note(text) -%}
    {%- if execute -%}
        {{ log('note: ' ~ text, info=True) }}
    {%- endif -%}
{%- endmacro %}


{#
    The select list that gives rows of another shape `target`'s columns, in its
    order: for each column of `target`, `overrides[name]` when given, else the
    column of the same name in `from_relation` (read as `alias`) cast to the
    target's type, else `null::type`. The legacy local leads take master's
    columns this way, whatever columns the application's table had.
#}
{% macro columns_as(target, from_relation, alias, overrides={}) %}
    {%- set available = catalog_columns(from_relation) | map(attribute='name') | list -%}
    {%- set items = [] -%}
    {%- for column in catalog_columns(target) -%}
        {%- set quoted = adapter.quote(column.name) -%}
        {%- if column.name in overrides -%}
            {%- set expression = overrides[column.name] -%}
        {%- elif column.name in available -%}
            {%- set expression = alias ~ '.' ~ quoted -%}
        {%- else -%}
            {%- set expression = 'null' -%}
        {%- endif -%}
        {%- do items.append(expression ~ '::' ~ column.type ~ ' as ' ~ quoted) -%}
    {%- endfor -%}
    {%- if not items -%}
        {%- do items.append(alias ~ '.*') -%}
    {%- endif -%}
    {{ return(items | join(',\n        ')) }}
{% endmacro %}


{#
    Post-hook of a replica table: the primary key master's table has (as the
    runner landed it), on the built table. The key is master's constraint, read
    from the catalog, not one the project declares.
#}
{% macro primary_key_as_master(table_name) %}
    {%- set landing = source('master', table_name) -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set found = run_query(
        "select string_agg(quote_ident(attributes.attname), ', '"
        ~ " order by keys.ordinality)"
        ~ " from pg_catalog.pg_constraint as constraints"
        ~ " cross join unnest(constraints.conkey) with ordinality as keys (attnum)"
        ~ " inner join pg_catalog.pg_attribute as attributes"
        ~ " on attributes.attrelid = constraints.conrelid"
        ~ " and attributes.attnum = keys.attnum"
        ~ " where constraints.contype = 'p' and constraints.conrelid = '"
        ~ adapter.quote(landing.schema) ~ "." ~ adapter.quote(landing.identifier)
        ~ "'::regclass") -%}
    {%- set columns = found.rows[0][0] -%}
    {%- if columns -%}
        alter table {{ this }} add primary key ({{ columns }})
    {%- endif -%}
{% endmacro %}


{#
    A relation's name as the replica publishes it: schema.name, without the
    build area's prefix (var schema_prefix), for the run's notes.
#}
{% macro live_name(relation) -%}
    {%- set prefix = var('schema_prefix', '') -%}
    {%- set schema = relation.schema -%}
    {%- if prefix and schema.startswith(prefix) -%}
        {%- set schema = schema[prefix | length:] -%}
    {%- endif -%}
    {{ return(schema ~ '.' ~ relation.identifier) }}
{%- endmacro %}
