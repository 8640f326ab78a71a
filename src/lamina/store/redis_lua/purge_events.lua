-- KEYS: 1 lamina:{events}:owner, 2 lamina:{events}:functions, then the function's
--       3 next, 4 claims, 5 nx, 6 ev, 7 st, 8 enq.
-- ARGV: the function name. Deletes every event carrying no claim (even a lapsed claim keeps
-- its event); returns how many.
local purged = 0
for _, rid in ipairs(redis.call('HKEYS', KEYS[6])) do
  if not redis.call('ZSCORE', KEYS[4], rid) then
    redis.call('HDEL', KEYS[1], rid)
    redis.call('ZREM', KEYS[3], rid)
    redis.call('HDEL', KEYS[5], rid)
    redis.call('HDEL', KEYS[6], rid)
    redis.call('HDEL', KEYS[7], rid)
    redis.call('ZREM', KEYS[8], rid)
    purged = purged + 1
  end
end
if redis.call('HLEN', KEYS[6]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end
return purged
