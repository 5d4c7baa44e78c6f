{{
    config(
        materialized='view',
        indexes=[
            {'columns': ["(to_tsvector('simple', content))"], 'type': 'gin'},
            {'columns': ['(' ~ thread_time('wa_timestamp', 'created_at') ~ ')', 'id'],
             'where': 'test_mode is not true'},
        ],
        post_hook="{{ index_landing_table(source('master', 'whatsapp_messages')) }}",
    )
}}
{#
    The WhatsApp messages' text and thread time, for the reads: a plain select
    from the landing table (without a WITH, so that PostgreSQL flattens it into
    the reads: see thread_conversation_turns). Which lead a message belongs to and
    which way it went are the message links' (int_whatsapp_messages_linked_to_
    leads, whose thread time is the same). Indexes: the text (all of it, so that
    ANALYZE keeps the statistics of its words, which PostgreSQL does not read from
    a partial index: the search's plan depends on them) and the real messages
    (not test_mode: load-test messages are not searched) newest first.
#}
select
    id,
    {{ thread_time('wa_timestamp', 'created_at') }} as occurred_at,
    content as body,
    test_mode is true as is_test_mode
from {{ source('master', 'whatsapp_messages') }}
