SELECT id, amount, day FROM raw.sales
