-- KEYS: the slot sets of every slot held, slot after slot (three for an invocation's slot:
--       admit_slot.lua; one for a held slot: hold_slot.lua).
-- ARGV: 1 the new lease end, then per slot its id and how many of KEYS are its sets. Extends
-- the leases of slots that still exist (XX: a slot dropped as ended stays dropped); kept out of
-- the AOF like admit_slot.
redis.set_repl(redis.REPL_NONE)
local k = 1
for i = 2, #ARGV, 2 do
  local n = tonumber(ARGV[i + 1])
  for j = k, k + n - 1 do redis.call('ZADD', KEYS[j], 'XX', ARGV[1], ARGV[i]) end
  k = k + n
end
return (#ARGV - 1) / 2
