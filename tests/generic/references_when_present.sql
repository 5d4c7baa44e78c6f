{#
    An observation (a warning): the model's non-null `column_name` values that
    `to`.`field` lacks, for a reference master keeps without a foreign key
    (agent_interaction_logs.triggering_message_id). A master without the column
    has nothing to observe (said in the notes). An anti-join (not exists): a
    `not in` over a table without statistics yet is a loop over both.
#}
{% test references_when_present(model, column_name, to, field) %}
    {{ config(severity='warn') }}
    {%- if execute and column_name not in catalog_columns(model)
        | map(attribute='name') | list %}
        {{ note(model.identifier ~ ' has no ' ~ column_name
            ~ ': its references are not observed') }}
select null::text as value where false
    {%- else %}
with validation_errors as (
    select referencing.{{ column_name }} as value
    from {{ model }} as referencing
    where
        referencing.{{ column_name }} is not null
        and not exists (
            select 1 from {{ to }} as referenced
            where referenced.{{ field }} = referencing.{{ column_name }}
        )
)

select * from validation_errors
    {%- endif %}
{% endtest %}
