-- Sales ETL: raw CSV rows (etl_pipeline_db.sales, found by the crawler) to
-- curated Parquet with total_amount, partitioned by region (the job's
-- partition_by). With bookmarks on, each run reads only the files that
-- arrived since the last one.
SELECT transaction_id, customer_id, product_id, quantity, unit_price,
       round(quantity * unit_price, 2) AS total_amount,
       transaction_date, region, current_date AS processed_date
FROM etl_pipeline_db.sales
WHERE quantity > 0
