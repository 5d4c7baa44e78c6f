{#
    The application's legacy leads, as archived: every column it had; then, as
    null, each column the merge reads (below) that it lacked (said in the run's
    notes). An application whose leads name their project current_project_id
    (master's name) gives it as project_id. A column replication.yml maps
    (application: columns:) is read by the application's name.
#}
{%- set renamed = {'project_id': 'current_project_id'} -%}
{%- do renamed.update(var('application_columns', {}).get('leads', {})) -%}

with source as (
    select * from {{ source('local_archive', 'leads') }}
),

final as (
    select
        {{ columns_or_null(source('local_archive', 'leads'), {
            'id':         'uuid',
            'project_id': 'uuid',
            'name':       'varchar(255)',
            'phone':      'varchar(50)',
            'status':     'varchar(50)',
            'created_at': 'timestamptz',
        }, instead=renamed) }}
    from source
)

select * from final
