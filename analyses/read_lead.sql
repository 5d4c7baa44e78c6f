{#
    A lead: its 21 columns, its client and project, what its thread holds (counts
    of messages in and out, conversation turns, status changes, agent runs; first
    and last message) and when its BANT status last changed (lead_details).
        $1  lead id (uuid)
#}
with lead_details as (
    select * from {{ ref('lead_details') }}
)

select lead_details.*
from lead_details
where lead_details.lead_id = $1::uuid
