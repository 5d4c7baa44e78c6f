{#
    The rows of `local_relation` (a legacy local table's staging model) whose id
    `master_relation` does not have, with the local model's columns as they are.
#}
{% macro local_only_rows(local_relation, master_relation) %}
    select local_rows.*
    from {{ local_relation }} as local_rows
    where not exists (
        select 1 from {{ master_relation }} as master_rows
        where master_rows.id = local_rows.id
    )
{% endmacro %}
