-- KEYS: 1 the function's slot set (lamina:{slots}:fn:NAME), 2 the unreserved pool's
--       (lamina:{slots}:unreserved), 3 the account's (lamina:{slots}:account), 4 the reserved
--       concurrency of every function that has one (hash lamina:{slots}:reserved, NAME -> n).
-- ARGV: now, lease end, slot id, the account limit, the function's name.
-- Leases that ended before now are dropped first (their node stopped renewing them). A
-- function with reserved concurrency draws from its own pool only; any other from the
-- unreserved pool (the account limit less every reservation). Reservations are read here, not
-- passed in, so a change through any node holds on every node from the next admission.
-- Returns 'OK' after adding the slot (or when it is there already: a call sent again after its
-- connection broke, store/redis_link.py), or the Reason of the throttle.
-- Slots are leases, not data: their writes stay out of the AOF and replication (no fsync on
-- the invoke path); a restarted Redis starts with no slots, which nodes refill as they admit.
redis.set_repl(redis.REPL_NONE)
if redis.call('ZSCORE', KEYS[3], ARGV[3]) then return 'OK' end
local now = ARGV[1]
for k = 1, 3 do redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', '(' .. now) end
local reserved = redis.call('HGET', KEYS[4], ARGV[5])
if reserved then
  if redis.call('ZCARD', KEYS[1]) >= tonumber(reserved) then
    return 'ReservedFunctionConcurrentInvocationLimitExceeded'
  end
else
  local unreserved = tonumber(ARGV[4])
  for _, n in ipairs(redis.call('HVALS', KEYS[4])) do unreserved = unreserved - tonumber(n) end
  if redis.call('ZCARD', KEYS[2]) >= unreserved
      or redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[4]) then
    return 'ConcurrentInvocationLimitExceeded'
  end
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
return 'OK'
