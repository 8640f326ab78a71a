-- KEYS: three slot sets per slot held (admit_slot.lua), in order.
-- ARGV: 1 the new lease end, then one slot id per three keys. Extends the leases of slots that
-- still exist (XX: a slot dropped as ended stays dropped); kept out of the AOF like admit_slot.
redis.set_repl(redis.REPL_NONE)
for i = 2, #ARGV do
  for k = (i - 2) * 3 + 1, (i - 2) * 3 + 3 do
    redis.call('ZADD', KEYS[k], 'XX', ARGV[1], ARGV[i])
  end
end
return #ARGV - 1
