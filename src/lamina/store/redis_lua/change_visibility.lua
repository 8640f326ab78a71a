-- KEYS: the queue's 1 vis, 2 rcpt.
-- ARGV: seq member, receipt, visible_at. Returns 1 when the message's newest receipt is that
-- one (in flight or not: SQS accepts a late change) and it is now visible at visible_at, else 0.
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
