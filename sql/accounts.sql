-- group without user_id: one Customer.io object (type 1, "accounts") per row.
SELECT account_id AS group_id, name, industry, seats, created_at
  FROM accounts
