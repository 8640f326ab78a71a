-- KEYS[1]: lamina:{events}:functions. Derived: ARGV[1] .. '{fn:NAME}:' .. claims / nx / next.
-- ARGV: key prefix. Voids every claim of every function; returns how many.
local reset = 0
for _, fn in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local base = ARGV[1] .. '{fn:' .. fn .. '}:'
  for _, rid in ipairs(redis.call('ZRANGE', base .. 'claims', 0, -1)) do
    redis.call('ZADD', base .. 'next', redis.call('HGET', base .. 'nx', rid), rid)
    reset = reset + 1
  end
  redis.call('DEL', base .. 'claims')
end
return reset
