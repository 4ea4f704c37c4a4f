"""The example warehouse: people, accounts, memberships and orders in a DuckDB file, generated in SQL."""

from __future__ import annotations

from pathlib import Path

from cio_retl import engine

PEOPLE = 1_000
ACCOUNTS = 50
ORDERS = 5_000

# Deterministic: every value derives from the row number, so a rebuild gives the same warehouse.
_SQL = f"""
CREATE OR REPLACE TABLE accounts AS
SELECT printf('acc-%03d', i) AS account_id,
       (['Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Stark', 'Wayne', 'Wonka', 'Tyrell', 'Cyberdyne'])[i % 10 + 1]
         || ' ' || (['Labs', 'Group', 'Systems', 'Partners', 'Holdings'])[i % 5 + 1] || ' ' || i AS name,
       (['software', 'retail', 'finance', 'health', 'media'])[i % 5 + 1] AS industry,
       5 + (i * 37) % 200 AS seats,
       TIMESTAMP '2021-01-01' + to_days(i * 11) AS created_at
  FROM range(1, {ACCOUNTS} + 1) t(i);

CREATE OR REPLACE TABLE people AS
SELECT printf('u%05d', i) AS user_id,
       lower(first_name) || '.' || lower(last_name) || i || '@example.com' AS email,
       first_name, last_name,
       (['free', 'starter', 'pro', 'enterprise'])[i % 4 + 1] AS plan,
       TIMESTAMP '2022-01-01 08:00:00' + to_minutes(i * 523) AS created_at,
       strftime(TIMESTAMP '2024-06-01 00:00:00' + to_seconds(i * 7919), '%Y-%m-%dT%H:%M:%SZ') AS last_login_at,
       CASE WHEN i % 3 = 0 THEN NULL ELSE printf('+1555%07d', i) END AS phone,
       (['US', 'GB', 'DE', 'FR', 'BR', 'IN', 'JP'])[i % 7 + 1] AS country,
       i % 10 <> 0 AS is_active,
       round((i * 13.37) % 5000, 2) AS lifetime_value
  FROM (SELECT i,
               (['Ada', 'Grace', 'Alan', 'Linus', 'Margaret', 'Dennis', 'Barbara', 'Ken', 'Frances', 'Edsger'])[i % 10 + 1] AS first_name,
               (['Lovelace', 'Hopper', 'Turing', 'Torvalds', 'Hamilton', 'Ritchie', 'Liskov', 'Thompson', 'Allen', 'Dijkstra'])[(i // 10) % 10 + 1] AS last_name
          FROM range(1, {PEOPLE} + 1) t(i));

CREATE OR REPLACE TABLE memberships AS
SELECT printf('u%05d', i) AS user_id, printf('acc-%03d', i % {ACCOUNTS} + 1) AS account_id,
       CASE WHEN i <= {ACCOUNTS} THEN 'owner' WHEN i % 5 = 0 THEN 'admin' ELSE 'member' END AS role,
       TIMESTAMP '2023-01-01' + to_hours(i * 17) AS joined_at
  FROM range(1, {PEOPLE} + 1) t(i)
UNION ALL
SELECT printf('u%05d', i), printf('acc-%03d', (i * 7) % {ACCOUNTS} + 1), 'billing', TIMESTAMP '2023-06-01' + to_hours(i)
  FROM range(1, {PEOPLE} + 1, 10) t(i)
 WHERE (i * 7) % {ACCOUNTS} <> i % {ACCOUNTS};

CREATE OR REPLACE TABLE orders AS
SELECT printf('ord-%06d', i) AS order_id,
       printf('u%05d', (i * 7919) % {PEOPLE} + 1) AS user_id,
       TIMESTAMP '2024-01-01 00:00:00' + to_seconds(i * 6007) AS ordered_at,
       round(5 + (i * 7.31) % 495, 2) AS amount,
       (['USD', 'EUR', 'GBP'])[i % 3 + 1] AS currency,
       1 + i % 6 AS item_count,
       CASE WHEN i % 4 = 0 THEN 'WELCOME10' END AS coupon
  FROM range(1, {ORDERS} + 1) t(i);
"""


def build_example_warehouse(path: Path) -> dict[str, int]:
    """(Re)create the example tables in `path`; return their row counts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = engine.connect(str(path))
    try:
        con.execute(_SQL)
        return {table: con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
                for table in ("people", "accounts", "memberships", "orders")}
    finally:
        con.close()
