-- KEYS[1]: lamina:{events}:owner. Derived: ARGV[1] .. '{fn:NAME}:' .. st / nx / next / claims.
-- ARGV: key prefix, request id, next_at, encoded state (attempts, next_at, last_error).
-- Voids the event's claim and queues it again at next_at; an unknown id is ignored.
local rid = ARGV[2]
local fn = redis.call('HGET', KEYS[1], rid)
if not fn then return 0 end
local base = ARGV[1] .. '{fn:' .. fn .. '}:'
redis.call('HSET', base .. 'st', rid, ARGV[4])
redis.call('HSET', base .. 'nx', rid, ARGV[3])
redis.call('ZADD', base .. 'next', ARGV[3], rid)
redis.call('ZREM', base .. 'claims', rid)
return 1
