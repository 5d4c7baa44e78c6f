{#
    The application's legacy leads, as archived: every column it had; then, as
    null, each column the merge reads (below) that it lacked (said in the run's
    notes). An application whose leads name their project current_project_id
    (master's name) gives it as project_id.
#}
{%- set archived = source('local_archive', 'leads') -%}
{%- set names = catalog_columns(archived) | map(attribute='name') | list -%}
{%- set project_as_master = execute
    and 'current_project_id' in names and 'project_id' not in names -%}
{%- set needs = {
    'id':         'uuid',
    'name':       'varchar(255)',
    'phone':      'varchar(50)',
    'status':     'varchar(50)',
    'created_at': 'timestamptz',
} -%}
{%- if not project_as_master -%}
    {%- do needs.update({'project_id': 'uuid'}) -%}
{%- endif -%}

with source as (
    select * from {{ archived }}
),

final as (
    select
        {{ columns_or_null(archived, needs) }}
        {%- if project_as_master %},
        current_project_id as project_id
        {%- endif %}
    from source
)

select * from final
