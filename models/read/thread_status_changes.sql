{{
    config(
        materialized='view',
        indexes=[
            {'columns': [
                'lead_id', '(' ~ thread_time('changed_at', 'created_at') ~ ')', 'id'
            ]},
        ],
        post_hook="{{ index_landing_table(source('master', 'lead_status_history')) }}",
    )
}}
{#
    A lead's status changes (status, state or BANT status) as its thread shows
    them: a plain select from the landing table, flattened into the reads (see
    thread_conversation_turns), indexed in thread order within a lead.
#}
select
    lead_id,
    {{ thread_time('changed_at', 'created_at') }} as occurred_at,
    id,
    status_type,
    status,
    previous_status,
    reason,
    {{ column_or_null(source('master', 'lead_status_history'), 'changed_by', 'text') }}
        as changed_by
from {{ source('master', 'lead_status_history') }}
