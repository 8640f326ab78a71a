-- KEYS: the queue's 1 vis, 2 rcpt.
-- ARGV: seq member, receipt, now, visible_at. Returns 1 when the message was in flight
-- (hidden at now) under that receipt and is now visible at visible_at, else 0.
local current = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not current or redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
if tonumber(current) <= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
return 1
