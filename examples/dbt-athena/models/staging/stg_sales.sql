-- A view over the raw sales CSV (a lake table).
select
    transaction_id,
    customer_id,
    product_id,
    quantity,
    unit_price,
    quantity * unit_price as amount,
    transaction_date,
    region
from {{ source('raw', 'sales') }}
