{#
    Legacy local projects whose id master does not have: preserved here, with their
    original columns, since the replica's projects are master's.
#}
with final as (
    {{ local_only_rows(ref('stg_local__projects'), ref('stg_master__projects')) }}
)

select * from final
