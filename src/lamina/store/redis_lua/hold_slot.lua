-- KEYS: 1 a slot set with a limit of its own (lamina:{slots}:esm:UUID: an event source
--       mapping's MaximumConcurrency, counted across every node).
-- ARGV: now, lease end, slot id, the set's limit. Drops ended leases, then adds the slot unless
-- `limit` live slots are held already: 1 when added (or there already: sent again), 0 when full.
-- Out of the AOF like admit_slot.
redis.set_repl(redis.REPL_NONE)
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then return 1 end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
return 1
