{#
    Legacy local clients whose id master does not have: preserved here, with their
    original columns, since the replica's clients are master's.
#}
with final as (
    {{ local_only_rows(ref('stg_local__clients'), ref('stg_master__clients')) }}
)

select * from final
