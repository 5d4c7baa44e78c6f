{#
    The application's legacy clients, as archived: every column it had; then, as
    null, each column the merge reads (below) that it lacked (said in the run's
    notes). A column replication.yml maps (application: columns:) is read by
    the application's name.
#}
{%- set renamed = {} -%}
{%- do renamed.update(var('application_columns', {}).get('clients', {})) -%}

with source as (
    select * from {{ source('local_archive', 'clients') }}
),

final as (
    select
        {{ columns_or_null(source('local_archive', 'clients'), {
            'id':         'uuid',
            'name':       'varchar(255)',
            'status':     'varchar(50)',
            'created_at': 'timestamptz',
        }, instead=renamed) }}
    from source
)

select * from final
