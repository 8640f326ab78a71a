-- KEYS (one function, tag {fn:NAME}): 1 next, 2 claims, 3 nx, 4 ev, 5 st.
-- ARGV: now, claimed_until, limit.
-- A claim that ended before now is void: its event goes back to `next` (keeping its claim
-- record, as a lapsed claim). Then the earliest due events (next_at, then request id) move from
-- `next` to `claims`. Returns per event: request id, encoded event, state after a reschedule
-- (or '').
local now, claimed_until, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
for _, rid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. now)) do
  redis.call('ZADD', KEYS[1], 'NX', redis.call('HGET', KEYS[3], rid), rid)
end
local out = {}
if limit <= 0 then return out end
for _, rid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit)) do
  redis.call('ZREM', KEYS[1], rid)
  redis.call('ZADD', KEYS[2], claimed_until, rid)
  out[#out + 1] = rid
  out[#out + 1] = redis.call('HGET', KEYS[4], rid)
  out[#out + 1] = redis.call('HGET', KEYS[5], rid) or ''
end
return out
