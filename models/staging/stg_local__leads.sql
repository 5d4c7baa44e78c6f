{#
    The application's legacy leads, as archived: every column it had; then, as
    null, each column the merge reads (below) that it lacked (said in the run's
    notes). An application whose leads name their project current_project_id
    (master's name) gives it as project_id.
#}
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
        }, instead={'project_id': 'current_project_id'}) }}
    from source
)

select * from final
