-- group with user_id: a relationship between a person and an account, with attributes on the relationship.
SELECT user_id, account_id AS group_id, {'role': role, 'joined_at': joined_at} AS relationship_attributes
  FROM memberships
