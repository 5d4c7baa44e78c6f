{#
    Every column where a legacy local row and master's row with the same id
    disagree, for a person to review: table, id, column (master's name), both
    values as text, and how it was resolved. Leads always keep master's values;
    clients and projects follow var local_conflict_policy.
#}
with master_clients as (
    select * from {{ ref('stg_master__clients') }}
),

local_clients as (
    select * from {{ ref('stg_local__clients') }}
),

master_projects as (
    select * from {{ ref('stg_master__projects') }}
),

local_projects as (
    select * from {{ ref('stg_local__projects') }}
),

master_leads as (
    select * from {{ ref('stg_master__leads') }}
),

local_leads as (
    select * from {{ ref('stg_local__leads') }}
),

client_conflicts as (
    {{ local_conflicts(
        'clients', 'master_clients', 'local_clients',
        [['name', 'name'], ['status', 'status'], ['created_at', 'created_at']],
        local_wins_columns=['name', 'status', 'created_at']) }}
),

project_conflicts as (
    {{ local_conflicts(
        'projects', 'master_projects', 'local_projects',
        [['name', 'name'], ['client_id', 'client_id'], ['status', 'status'],
         ['created_at', 'created_at']],
        local_wins_columns=['name', 'status', 'created_at']) }}
),

lead_conflicts as (
    {{ local_conflicts(
        'leads', 'master_leads', 'local_leads',
        [['name', 'name'], ['phone', 'phone'], ['status', 'status'],
         ['project_id', 'current_project_id'], ['created_at', 'created_at']]) }}
),

final as (
    select * from client_conflicts
    union all
    select * from project_conflicts
    union all
    select * from lead_conflicts
)

select * from final
