{#
    Message search: the messages and conversation turns of leads' threads whose
    text matches, best first, with a highlighted headline and their place in the
    lead's thread (lead_id, occurred_at, id: read_thread's $1, $2, $3).

    The text ($1) is words that must all match, each as a whole word in the
    `simple` configuration (no language's stemming or stop words: the messages mix
    Hebrew and English); a word ending in * matches as a prefix (דיר* finds דירה,
    דירות). Quotes and the tsquery operators are ignored. Load-test messages
    (test_mode) are not searched.

    Ranking, by windows: a window is the $9 newest matches from a point ($7, $8),
    ranked by ts_rank_cd (normalised by length), then newest first. Every row
    carries where the next (older) window starts (next_window_at,
    next_window_id: pass them as $7, $8), null when there is none. A window is
    found through the text's GIN index (a rare word: all its matches) or by
    reading messages newest first until there are enough (a common word), as
    PostgreSQL chooses from the words' statistics: run the statement with its
    values (an unnamed statement, or plan_cache_mode = force_custom_plan).
        $1  the text
        $2  lead id (uuid), $3 direction (inbound, outbound), $4 kind (message,
            conversation): null for any
        $5  from (timestamptz, inclusive), $6 to (exclusive): null for any
        $7  window_through_at, $8 window_through_id: the newest match of the
            window (inclusive); null: the newest
        $9  window size (100)
        $10 through_rank (numeric), $11 through_at, $12 through_id: the first hit
            of the page (inclusive); null: the window's best
        $13 page size: returns up to $13 + 1 rows; an extra row is where the
            next page starts (pass its rank, occurred_at and id as $10 to $12)
    The headline marks matches between U+E000 and U+E001 (escape the text, then
    replace them).
#}
with messages as (
    select * from {{ ref('thread_whatsapp_messages') }}
),

message_links as (
    select * from {{ ref('thread_message_links') }}
),

stored_messages as (
    select * from {{ ref('int_conversations_linked_to_whatsapp_messages') }}
),

turns as (
    select * from {{ ref('thread_conversation_turns') }}
),

leads as (
    select * from {{ ref('leads') }}
),

{# The words as a tsquery, 'a' & 'b':* (each word quoted, a trailing * a prefix):
    to_tsquery with a configuration is immutable, so with the text's value this is
    a constant when the statement is planned. #}
query as not materialized (
    select
        to_tsquery(
            'simple'::regconfig,
            replace(
                replace(
                    regexp_replace(
                        regexp_replace(
                            btrim(
                                regexp_replace(
                                    regexp_replace(
                                        regexp_replace(
                                            $1::text, '[''\\&|!():<>"]+', ' ', 'g'
                                        ),
                                        '\*+', '*', 'g'
                                    ),
                                    '\*(?=[^\s])|(^|\s)\*', ' ', 'g'
                                )
                            ),
                            '\s+', ' ', 'g'
                        ),
                        '(\S+)', '''\1''', 'g'
                    ),
                    '*''', ''':*'
                ),
                ' ''', ' & '''
            )
        ) as search_query
),

message_candidates as (
    select
        messages.occurred_at,
        messages.id,
        'message' as kind,
        message_links.lead_id,
        message_links.direction,
        messages.body,
        null::text as status,
        null::uuid as conversation_id,
        messages.id as whatsapp_message_id
    from messages
    inner join message_links on messages.id = message_links.id
    cross join query
    where
        not messages.is_test_mode
        and to_tsvector('simple', messages.body) @@ query.search_query
        and ($2::uuid is null or message_links.lead_id = $2::uuid)
        and ($3::text is null or message_links.direction = $3::text)
        and ($4::text is null or $4::text = 'message')
        and ($5::timestamptz is null or messages.occurred_at >= $5::timestamptz)
        and ($6::timestamptz is null or messages.occurred_at < $6::timestamptz)
        and (
            $7::timestamptz is null
            or (messages.occurred_at, messages.id) <= ($7::timestamptz, $8::uuid)
        )
        and not exists (
            select 1 from stored_messages
            where stored_messages.whatsapp_message_id = messages.id
        )
    order by messages.occurred_at desc, messages.id desc
    limit $9::integer + 1
),

turn_candidates as (
    select
        turns.occurred_at,
        turns.id,
        'conversation' as kind,
        turns.lead_id,
        turns.direction,
        turns.body,
        turns.status,
        turns.id as conversation_id,
        null::uuid as whatsapp_message_id
    from turns
    cross join query
    where
        turns.lead_id is not null
        and to_tsvector('simple', turns.body) @@ query.search_query
        and ($2::uuid is null or turns.lead_id = $2::uuid)
        and ($3::text is null or turns.direction = $3::text)
        and ($4::text is null or $4::text = 'conversation')
        and ($5::timestamptz is null or turns.occurred_at >= $5::timestamptz)
        and ($6::timestamptz is null or turns.occurred_at < $6::timestamptz)
        and (
            $7::timestamptz is null
            or (turns.occurred_at, turns.id) <= ($7::timestamptz, $8::uuid)
        )
    order by turns.occurred_at desc, turns.id desc
    limit $9::integer + 1
),

candidates as (
    select * from message_candidates
    union all
    select * from turn_candidates
    order by occurred_at desc, id desc
    limit $9::integer + 1
),

{# The window, and the match after it: where the next window starts. #}
numbered as (
    select
        candidates.*,
        row_number() over (
            order by candidates.occurred_at desc, candidates.id desc
        ) as recency
    from candidates
),

next_window as (
    select
        max(numbered.occurred_at) filter (
            where numbered.recency = $9::integer + 1
        ) as next_window_at,
        max(numbered.id::text) filter (
            where numbered.recency = $9::integer + 1
        )::uuid as next_window_id
    from numbered
),

ranked as (
    select
        numbered.*,
        round(
            ts_rank_cd(
                to_tsvector('simple', numbered.body), query.search_query, 1
            )::numeric,
            6
        ) as rank
    from numbered
    cross join query
    where numbered.recency <= $9::integer
)

select
    ranked.rank,
    ranked.occurred_at,
    ranked.id,
    ranked.lead_id,
    leads.name as lead_name,
    ranked.kind,
    ranked.direction,
    ranked.status,
    ranked.conversation_id,
    ranked.whatsapp_message_id,
    next_window.next_window_at,
    next_window.next_window_id,
    ts_headline(
        'simple',
        ranked.body,
        query.search_query,
        'HighlightAll=true, StartSel=' || chr(57344) || ', StopSel=' || chr(57345)
    ) as headline
from ranked
cross join query
cross join next_window
left join leads on ranked.lead_id = leads.id
where
    $10::numeric is null
    or (ranked.rank, ranked.occurred_at, ranked.id)
    <= ($10::numeric, $11::timestamptz, $12::uuid)
order by ranked.rank desc, ranked.occurred_at desc, ranked.id desc
limit $13::integer + 1
