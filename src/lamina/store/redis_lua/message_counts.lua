-- KEYS: the queue's 1 vis, 2 rc. ARGV: now.
-- Returns visible, in flight (hidden and received before), delayed (hidden, never received).
local hidden = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')
local in_flight = 0
for _, seq in ipairs(hidden) do
  if tonumber(redis.call('HGET', KEYS[2], seq) or '0') > 0 then in_flight = in_flight + 1 end
end
return {redis.call('ZCARD', KEYS[1]) - #hidden, in_flight, #hidden - in_flight}
