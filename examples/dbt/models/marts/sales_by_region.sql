-- A table: revenue per region, with the region's manager from the seed.
select
    s.region,
    r.manager,
    count(*) as transactions,
    round(sum(s.amount), 2) as revenue
from {{ ref('stg_sales') }} s
left join {{ ref('regions') }} r on r.region = s.region
group by s.region, r.manager
