-- identify: one person per row. user_id is the identifier; every other column becomes an attribute.
SELECT user_id, email, first_name, last_name, plan, created_at, last_login_at, phone, country, is_active,
       lifetime_value
  FROM people
