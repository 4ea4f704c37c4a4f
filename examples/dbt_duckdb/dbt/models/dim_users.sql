-- One row per live user, named after cio-retl's identify contract (user_id, email; the rest become traits).
SELECT 'u' || id AS user_id,
       email,
       first_name,
       plan,
       signed_up_at AS created_at
  FROM {{ ref('raw_users') }}
 WHERE NOT deleted
