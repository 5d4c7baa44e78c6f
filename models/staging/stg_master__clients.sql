{#
    Master's clients as landed: every column master has, as it is, in master's
    order; then, as null, each column the models read (below, docs/master.md's)
    that this master lacks (said in the run's notes).
#}
with source as (
    select * from {{ source('master', 'clients') }}
),

final as (
    select
        {{ columns_or_null(source('master', 'clients'), {
            'id':                    'uuid',
            'name':                  'varchar(255)',
            'description':           'text',
            'status':                'varchar(50)',
            'created_at':            'timestamptz',
            'updated_at':            'timestamptz',
            'contact_info':          'jsonb',
            'whatsapp_number_id':    'varchar(255)',
            'whatsapp_phone_number': 'varchar(50)',
        }) }}
    from source
)

select * from final
