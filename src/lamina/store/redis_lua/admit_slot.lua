-- KEYS: 1 the function's slot set (lamina:{slots}:fn:NAME), 2 the unreserved pool's
--       (lamina:{slots}:unreserved), 3 the account's (lamina:{slots}:account).
-- ARGV: now, lease end, slot id, the function's reserved concurrency (-1: none), the unreserved
--       pool's limit, the account limit.
-- Leases that ended before now are dropped first (their node stopped renewing them). A
-- function with reserved concurrency draws from its own pool only; any other from the
-- unreserved pool. Returns 'OK' after adding the slot, or the Reason of the throttle.
-- Slots are leases, not data: their writes stay out of the AOF and replication (no fsync on
-- the invoke path); a restarted Redis starts with no slots, which nodes refill as they admit.
redis.set_repl(redis.REPL_NONE)
local now = ARGV[1]
for k = 1, 3 do redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', '(' .. now) end
local reserved = tonumber(ARGV[4])
if reserved >= 0 then
  if redis.call('ZCARD', KEYS[1]) >= reserved then
    return 'ReservedFunctionConcurrentInvocationLimitExceeded'
  end
else
  if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5])
      or redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[6]) then
    return 'ConcurrentInvocationLimitExceeded'
  end
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
return 'OK'
