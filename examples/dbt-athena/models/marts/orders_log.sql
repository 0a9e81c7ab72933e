-- An append incremental model (Hive table): each run appends the orders newer
-- than the newest it holds.
{{ config(
    materialized='incremental',
    incremental_strategy='append'
) }}

select order_id, customer_id, order_date, status, total_amount
from {{ source('raw', 'orders') }}
where order_id is not null
{% if is_incremental() %}
{%- set last = run_query("select date_format(max(order_date), '%Y%m%d') from " ~ this).columns[0].values()[0] if execute else '0' %}
  and year * 10000 + month * 100 + day >= {{ last | int }}
  and order_date > (select max(order_date) from {{ this }})
{% endif %}
