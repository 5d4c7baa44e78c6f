{{
    config(
        materialized='view',
        indexes=[
            {'columns': [
                'lead_id', '(' ~ thread_time('"timestamp"', 'created_at') ~ ')', 'id'
            ]},
            {'columns': ['(' ~ thread_time('"timestamp"', 'created_at') ~ ')', 'id']},
            {'columns': ["(to_tsvector('simple', message_content))"], 'type': 'gin'},
        ],
        post_hook="{{ index_landing_table(source('master', 'conversations')) }}",
    )
}}
{#
    The conversation turns as a lead's thread shows them: when (thread time), which
    way (incoming is inbound, outgoing outbound) and the text. A plain select from
    the landing table, without a WITH: PostgreSQL flattens such a view into the
    query that reads it, so the reads (analyses/read_*.sql) page a lead's turns
    in the order of the (lead_id, thread time, id) index and search the text
    through its GIN index; through a view written with import CTEs (the replica
    models) it could do neither (it plans the view apart, and sorts all of a
    lead's rows). The same rows as the replica's conversations, which is a view
    over the same landing table. Indexes (on the landing table): a lead's turns in
    thread order; all turns newest first and their text (the search).
#}
select
    lead_id,
    {{ thread_time('"timestamp"', 'created_at') }} as occurred_at,
    id,
    case message_type
        when 'incoming' then 'inbound'
        when 'outgoing' then 'outbound'
    end as direction,
    message_content as body,
    status::text as status,
    message_type::text as message_type
from {{ source('master', 'conversations') }}
