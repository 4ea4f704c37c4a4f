-- track: one event per order. The sync's `event:` names it; every other column becomes event data.
SELECT order_id, user_id, ordered_at AS "timestamp", ordered_at, amount, currency, item_count, coupon
  FROM orders
