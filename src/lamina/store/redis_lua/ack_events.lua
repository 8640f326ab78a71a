-- KEYS[1]: lamina:{events}:owner; KEYS[2]: lamina:{events}:functions.
-- Derived: ARGV[1] .. '{fn:NAME}:' .. ev / st / nx / next / claims / enq.
-- ARGV: key prefix, then request ids to forget (unknown ids are ignored).
for i = 2, #ARGV do
  local rid = ARGV[i]
  local fn = redis.call('HGET', KEYS[1], rid)
  if fn then
    local base = ARGV[1] .. '{fn:' .. fn .. '}:'
    redis.call('HDEL', KEYS[1], rid)
    redis.call('HDEL', base .. 'ev', rid)
    redis.call('HDEL', base .. 'st', rid)
    redis.call('HDEL', base .. 'nx', rid)
    redis.call('ZREM', base .. 'next', rid)
    redis.call('ZREM', base .. 'claims', rid)
    redis.call('ZREM', base .. 'enq', rid)
    if redis.call('HLEN', base .. 'ev') == 0 then redis.call('SREM', KEYS[2], fn) end
  end
end
return 1
