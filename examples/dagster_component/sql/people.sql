SELECT user_id, email, plan FROM people
