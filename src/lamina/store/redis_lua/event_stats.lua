-- KEYS (one function, tag {fn:NAME}): 1 next, 2 claims, 3 nx, 4 ev, 5 enq.
-- ARGV: now. Lapsed claims go back to `next` first (as claim_events does).
-- Returns depth, in flight (claimed_until >= now), delayed (unclaimed, next_at > now),
-- oldest enqueued_at (or '').
local now = ARGV[1]
for _, rid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. now)) do
  redis.call('ZADD', KEYS[1], 'NX', redis.call('HGET', KEYS[3], rid), rid)
end
local oldest = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
return {
  redis.call('HLEN', KEYS[4]),
  redis.call('ZCOUNT', KEYS[2], now, '+inf'),
  redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf'),
  oldest[2] or '',
}
