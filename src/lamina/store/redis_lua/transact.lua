-- KEYS: one document hash (lamina:{docs}:doc:KIND) per op, in op order.
-- ARGV: per op three values: P (put) / D (delete) / E (expect value) / A (expect absent),
--       the document key, the value (empty unless P or E).
-- Returns 1 after applying every put and delete, or 0 (writing nothing) if an expectation fails.
for i = 1, #KEYS do
  local op, field = ARGV[3 * i - 2], ARGV[3 * i - 1]
  if op == 'E' then
    if redis.call('HGET', KEYS[i], field) ~= ARGV[3 * i] then return 0 end
  elseif op == 'A' then
    if redis.call('HEXISTS', KEYS[i], field) == 1 then return 0 end
  end
end
for i = 1, #KEYS do
  local op, field = ARGV[3 * i - 2], ARGV[3 * i - 1]
  if op == 'P' then
    redis.call('HSET', KEYS[i], field, ARGV[3 * i])
  elseif op == 'D' then
    redis.call('HDEL', KEYS[i], field)
  end
end
return 1
