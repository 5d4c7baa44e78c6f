{#
    The leads list, most recently active first, filtered and paginated
    (lead_details).
        $1  BANT status, $2 state, $3 project id (uuid): null for any
        $4  search: a part of the name (case-insensitive) or of the phone
            number's digits; null for all
        $5  through_activity_at, $6 through_id: the first row of the page
            (inclusive); null: from the most recent
        $7  page size: returns up to $7 + 1 rows; an extra row is where the next
            page starts (pass its last_activity_at and lead_id as $5 and $6)
#}
with lead_details as (
    select * from {{ ref('lead_details') }}
)

select
    lead_details.lead_id,
    lead_details.name,
    lead_details.phone,
    lead_details.status,
    lead_details.state,
    lead_details.bant_status,
    lead_details.client_name,
    lead_details.project_name,
    lead_details.messages_in,
    lead_details.messages_out,
    lead_details.conversation_turns,
    lead_details.last_message_at,
    lead_details.last_activity_at,
    lead_details.requires_human_review
from lead_details
where
    ($1::text is null or lead_details.bant_status = $1::text)
    and ($2::text is null or lead_details.state = $2::text)
    and ($3::uuid is null or lead_details.current_project_id = $3::uuid)
    and (
        $4::text is null
        or lead_details.name ilike '%' || replace(
            replace(replace($4::text, '\', '\\'), '%', '\%'), '_', '\_'
        ) || '%'
        or lead_details.phone_digits like '%' || nullif(
            regexp_replace($4::text, '\D', '', 'g'), ''
        ) || '%'
    )
    and (
        $5::timestamptz is null
        or (lead_details.last_activity_at, lead_details.lead_id)
        <= ($5::timestamptz, $6::uuid)
    )
order by lead_details.last_activity_at desc, lead_details.lead_id desc
limit $7::integer + 1
