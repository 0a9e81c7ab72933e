-- An insert_overwrite incremental model on a partitioned Hive table: each run
-- rewrites the partitions (months) its rows fall in, and only those.
{{ config(
    materialized='incremental',
    incremental_strategy='insert_overwrite',
    partitioned_by=['order_month']
) }}

select
    status,
    count(*) as orders,
    round(sum(total_amount), 2) as revenue,
    date_format(order_date, '%Y-%m') as order_month
from {{ source('raw', 'orders') }}
{% if is_incremental() %}
where order_date >= (select date_parse(max(order_month), '%Y-%m') from {{ this }})
{% endif %}
group by status, date_format(order_date, '%Y-%m')
