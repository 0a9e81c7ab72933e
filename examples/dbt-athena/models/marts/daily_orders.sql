-- The guides' incremental model: one row per order day, on an Iceberg table,
-- merged on order_date (MERGE INTO ... USING the new rows). A later run
-- rebuilds the last day it holds (whose orders may have grown) and adds the
-- newer ones; the filter on the raw table's partition columns (year, month,
-- day) lets the scan skip the files of older days. A location of its own for
-- each build (schema_table_unique) lets --full-refresh build the new table
-- beside the old one before the swap.
{{ config(
    materialized='incremental',
    unique_key='order_date',
    incremental_strategy='merge',
    table_type='iceberg',
    s3_data_naming='schema_table_unique'
) }}

select
    cast(order_date as date) as order_date,
    count(*) as orders,
    round(sum(total_amount), 2) as revenue
from {{ source('raw', 'orders') }}
{% if is_incremental() %}
{%- set last = run_query("select date_format(max(order_date), '%Y%m%d') from " ~ this).columns[0].values()[0] if execute else '0' %}
where year * 10000 + month * 100 + day >= {{ last | int }}
  and cast(order_date as date) >= (select max(order_date) from {{ this }})
{% endif %}
group by 1
