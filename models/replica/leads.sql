{{
    config(
        post_hook="{{ primary_key_as_master('leads') }}",
    )
}}
{#
    The replica's leads: every column master's leads have, with master's types,
    in master's order (master_select, from the catalog). Master's leads always;
    the legacy local-only leads too when var local_only_leads is `keep`
    (lead_origins marks them), else they live in local_archive.local_only_leads.
#}
with merged as (
    select * from {{ ref('int_leads__merged') }}
),

final as (
    select
        {{ master_select('leads') }}
    from merged
    where
        is_in_master
        or {{ keeps_local_only_leads() }}
)

select * from final
