-- KEYS: the queue's 1 msg, 2 vis, 3 sent, 4 rc, 5 fr, 6 rcpt, 7 dls, 8 grp, 9 ord.
-- ARGV: sent_before (ms). Deletes messages sent before it; returns how many.
local old = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[1])
for _, seq in ipairs(old) do
  for k = 1, 9 do
    if k == 2 or k == 3 or k == 9 then
      redis.call('ZREM', KEYS[k], seq)
    else
      redis.call('HDEL', KEYS[k], seq)
    end
  end
end
return #old
