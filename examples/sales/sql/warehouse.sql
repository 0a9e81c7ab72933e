-- The ELT guide's Redshift script, run against tarn's warehouse:
--   psql "host=127.0.0.1 port=5433 user=$AWS_ACCESS_KEY_ID dbname=etl_pipeline_db" -f examples/sales/sql/warehouse.sql
-- (password: the secret access key). It loads the quickstart's raw sales CSV
-- into a staging table, transforms it into a fact table, builds a view and a
-- materialized view, and checks the load against the lake through a
-- Spectrum external schema. It can be run again: it starts from scratch.

DROP MATERIALIZED VIEW IF EXISTS analytics.mv_region_sales;
DROP VIEW IF EXISTS analytics.v_monthly_sales;
DROP TABLE IF EXISTS analytics.fact_sales;
DROP TABLE IF EXISTS staging.sales_raw;

CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS analytics;

CREATE TABLE staging.sales_raw (
    transaction_id   VARCHAR(50),
    customer_id      VARCHAR(50),
    product_id       VARCHAR(50),
    quantity         INTEGER,
    unit_price       DECIMAL(10,2),
    transaction_date DATE,
    region           VARCHAR(MAX)
) DISTSTYLE EVEN;

CREATE TABLE analytics.fact_sales (
    sale_id          BIGINT IDENTITY(1,1),
    transaction_id   VARCHAR(50) NOT NULL ENCODE zstd,
    customer_id      VARCHAR(50),
    product_id       VARCHAR(50),
    quantity         INTEGER,
    unit_price       DECIMAL(10,2),
    total_amount     DECIMAL(12,2),
    transaction_date DATE,
    sale_year        INTEGER,
    sale_month       INTEGER,
    region           VARCHAR(50),
    loaded_at        TIMESTAMP DEFAULT GETDATE()
)
DISTKEY(customer_id)
COMPOUND SORTKEY(transaction_date, region);

COPY staging.sales_raw
FROM 's3://lake/raw/sales/'
IAM_ROLE 'arn:aws:iam::123456789012:role/RedshiftCopy'
FORMAT AS CSV
IGNOREHEADER 1
DELIMITER ','
TIMEFORMAT 'auto'
MAXERROR 100;

-- The incremental pattern: only rows newer than what the fact table holds.
INSERT INTO analytics.fact_sales
    (transaction_id, customer_id, product_id, quantity, unit_price, total_amount,
     transaction_date, sale_year, sale_month, region)
SELECT transaction_id, customer_id, product_id, quantity, unit_price,
       quantity * unit_price,
       transaction_date,
       EXTRACT(year FROM transaction_date),
       EXTRACT(month FROM transaction_date),
       region
FROM staging.sales_raw
WHERE transaction_id IS NOT NULL
  AND transaction_date > (SELECT COALESCE(MAX(transaction_date), '1900-01-01'::DATE) FROM analytics.fact_sales);

CREATE VIEW analytics.v_monthly_sales AS
SELECT sale_year, sale_month, region, SUM(total_amount) AS revenue, COUNT(*) AS orders
FROM analytics.fact_sales
GROUP BY sale_year, sale_month, region;

CREATE MATERIALIZED VIEW analytics.mv_region_sales
SORTKEY (region)
AS
SELECT region, SUM(total_amount) AS revenue, COUNT(*) AS orders
FROM analytics.fact_sales
GROUP BY region;

REFRESH MATERIALIZED VIEW analytics.mv_region_sales;

CREATE EXTERNAL SCHEMA IF NOT EXISTS spectrum
FROM DATA CATALOG DATABASE 'etl_pipeline_db'
IAM_ROLE 'arn:aws:iam::123456789012:role/Spectrum';

-- Validation: raw count in the lake vs loaded count in the warehouse.
SELECT r.region, r.raw_count, COALESCE(w.loaded_count, 0) AS loaded_count
FROM (SELECT region, COUNT(*) AS raw_count FROM spectrum.sales GROUP BY region) r
LEFT JOIN (SELECT region, COUNT(*) AS loaded_count FROM analytics.fact_sales GROUP BY region) w
  ON r.region = w.region
ORDER BY r.region;

SELECT region, orders FROM analytics.mv_region_sales ORDER BY region;
