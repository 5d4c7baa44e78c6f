{#
    Master's projects as landed: every column master has, as it is, in master's
    order; then, as null, each column the models read (below, docs/master.md's)
    that this master lacks (said in the run's notes).
#}
with source as (
    select * from {{ source('master', 'projects') }}
),

final as (
    select
        {{ columns_or_null(source('master', 'projects'), {
            'id':          'uuid',
            'name':        'varchar(255)',
            'description': 'text',
            'client_id':   'uuid',
            'status':      'varchar(50)',
            'settings':    'jsonb',
            'created_at':  'timestamptz',
            'updated_at':  'timestamptz',
            'metadata':    'jsonb',
        }) }}
    from source
)

select * from final
