{#
    Master's lead_status_history as landed: every column master has, as it is, in master's
    order; then, as null, each column the models read (below, docs/master.md's)
    that this master lacks (said in the run's notes).
#}
with source as (
    select * from {{ source('master', 'lead_status_history') }}
),

final as (
    select
        {{ columns_or_null(source('master', 'lead_status_history'), {
            'id':              'uuid',
            'lead_id':         'uuid',
            'status_type':     'text',
            'status':          'text',
            'previous_status': 'text',
            'reason':          'text',
            'status_metadata': 'jsonb',
            'changed_at':      'timestamptz',
            'changed_by':      'text',
            'created_at':      'timestamptz',
        }) }}
    from source
)

select * from final
