-- KEYS: the function's, the unreserved pool's and the account's slot sets (admit_slot.lua).
-- ARGV: 1 the slot id. Gives the slot back at once; kept out of the AOF like admit_slot.
redis.set_repl(redis.REPL_NONE)
for k = 1, #KEYS do redis.call('ZREM', KEYS[k], ARGV[1]) end
return 1
