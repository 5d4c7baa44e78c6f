{#
    Where each row of `leads` comes from, beside it rather than in it (leads keeps
    master's exact columns): master only, master and the legacy local table (master's
    values won), or local only (present when var local_only_leads is `keep`).
#}
with merged as (
    select * from {{ ref('int_leads__merged') }}
),

final as (
    select
        id,
        is_in_master,
        is_in_local,
        case
            when is_in_master and is_in_local then 'master_and_local'
            when is_in_master then 'master'
            else 'local_only'
        end as origin
    from merged
    where
        is_in_master
        or {{ keeps_local_only_leads() }}
)

select * from final
