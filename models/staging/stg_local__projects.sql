{#
    The application's legacy projects, as archived: every column it had; then, as
    null, each column the merge reads (below) that it lacked (said in the run's
    notes). A column replication.yml maps (application: columns:) is read by
    the application's name.
#}
{%- set renamed = {} -%}
{%- do renamed.update(var('application_columns', {}).get('projects', {})) -%}

with source as (
    select * from {{ source('local_archive', 'projects') }}
),

final as (
    select
        {{ columns_or_null(source('local_archive', 'projects'), {
            'id':         'uuid',
            'name':       'varchar(255)',
            'client_id':  'uuid',
            'status':     'varchar(50)',
            'created_at': 'timestamptz',
        }, instead=renamed) }}
    from source
)

select * from final
