-- A table on Iceberg, partitioned by region: rebuilt as a new table, then
-- swapped in with ALTER TABLE ... RENAME TO (dbt-athena's way for Iceberg).
{{ config(table_type='iceberg', partitioned_by=['region'], s3_data_naming='schema_table_unique') }}

select transaction_id, transaction_date, region, quantity * unit_price as amount
from {{ ref('stg_sales') }}
