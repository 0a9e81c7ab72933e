-- The guides' incremental model with their strategy, merge on order_date
-- (MERGE INTO ... USING the new rows): each run rebuilds the last three days
-- it holds, so a second run updates rows in place.
{{ config(
    materialized='incremental',
    unique_key='order_date',
    incremental_strategy='merge'
) }}

select
    cast(order_date as date) as order_date,
    count(*) as orders,
    round(sum(total_amount), 2) as revenue
from {{ source('raw', 'orders') }}
{% if is_incremental() %}
where order_date > (select max(order_date) from {{ this }}) - interval '3 days'
{% endif %}
group by 1
