-- KEYS: 1 the message sequence counter (lamina:{queues}:seq), then the queue's
--       2 msg, 3 vis, 4 sent.
-- ARGV: per message: encoded message, visible_at, sent_at (ms).
-- Each message gets the next sequence number, zero-padded as its member.
local last = redis.call('INCRBY', KEYS[1], #ARGV / 3)
local seq = last - #ARGV / 3
for i = 1, #ARGV, 3 do
  seq = seq + 1
  local member = string.format('%016d', seq)
  redis.call('HSET', KEYS[2], member, ARGV[i])
  redis.call('ZADD', KEYS[3], ARGV[i + 1], member)
  redis.call('ZADD', KEYS[4], ARGV[i + 2], member)
end
return last
