-- The example's warehouse: python -c "import duckdb; duckdb.connect('warehouse.duckdb').execute(open('seed.sql').read())"
CREATE OR REPLACE TABLE people AS
SELECT 'u' || i AS user_id, 'p' || i || '@example.com' AS email, 'free' AS plan FROM range(1, 11) t(i);
