-- A table (Parquet, Hive), rebuilt with dbt-athena's ha swap: the new
-- version is built under a location of its own, then the Glue table is
-- pointed at it (UpdateTable), so readers never see it missing.
{{ config(ha=true, s3_data_naming='schema_table_unique') }}

select
    s.region,
    r.manager,
    count(*) as transactions,
    round(sum(s.amount), 2) as revenue
from {{ ref('stg_sales') }} s
left join {{ ref('regions') }} r on r.region = s.region
group by s.region, r.manager
