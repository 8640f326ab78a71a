-- KEYS[1]: lamina:{events}:owner (request id -> function); KEYS[2]: lamina:{events}:functions.
-- Derived keys: ARGV[1] .. '{fn:NAME}:' .. ev / nx / next / enq of each event's function.
-- ARGV[1]: the key prefix; then per event: request id, function, encoded event, next_at,
--          enqueued_at. An id already queued is left as it is.
local prefix = ARGV[1]
for i = 2, #ARGV, 5 do
  local rid, fn = ARGV[i], ARGV[i + 1]
  if redis.call('HSETNX', KEYS[1], rid, fn) == 1 then
    local base = prefix .. '{fn:' .. fn .. '}:'
    redis.call('HSET', base .. 'ev', rid, ARGV[i + 2])
    redis.call('HSET', base .. 'nx', rid, ARGV[i + 3])
    redis.call('ZADD', base .. 'next', ARGV[i + 3], rid)
    redis.call('ZADD', base .. 'enq', ARGV[i + 4], rid)
    redis.call('SADD', KEYS[2], fn)
  end
end
return 1
