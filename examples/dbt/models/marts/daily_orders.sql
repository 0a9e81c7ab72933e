-- The guides' incremental model: one row per order day, rebuilt for the days
-- newer than what the table holds (delete+insert on order_date).
{{ config(
    materialized='incremental',
    unique_key='order_date',
    incremental_strategy='delete+insert'
) }}

select
    cast(order_date as date) as order_date,
    count(*) as orders,
    round(sum(total_amount), 2) as revenue
from {{ source('raw', 'orders') }}
{% if is_incremental() %}
where order_date > (select max(order_date) from {{ this }})
{% endif %}
group by 1
