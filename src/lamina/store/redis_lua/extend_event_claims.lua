-- KEYS[1]: lamina:{events}:owner. Derived: ARGV[1] .. '{fn:NAME}:' .. claims / next of each event.
-- ARGV: key prefix, the claim's new end, then request ids. Only events carrying a claim move
-- (a lapsed claim put back among the unclaimed is taken out again: its holder still runs it).
for i = 3, #ARGV do
  local rid = ARGV[i]
  local fn = redis.call('HGET', KEYS[1], rid)
  if fn then
    local base = ARGV[1] .. '{fn:' .. fn .. '}:'
    if redis.call('ZSCORE', base .. 'claims', rid) then
      redis.call('ZADD', base .. 'claims', ARGV[2], rid)
      redis.call('ZREM', base .. 'next', rid)
    end
  end
end
return 1
