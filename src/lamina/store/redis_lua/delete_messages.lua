-- KEYS: the queue's 1 msg, 2 vis, 3 sent, 4 rc, 5 fr, 6 rcpt, 7 dls.
-- ARGV: pairs of (seq member, receipt). A message goes only if the receipt is its newest.
for i = 1, #ARGV, 2 do
  local seq = ARGV[i]
  if redis.call('HGET', KEYS[6], seq) == ARGV[i + 1] then
    for k = 1, 7 do
      if k == 2 or k == 3 then redis.call('ZREM', KEYS[k], seq) else redis.call('HDEL', KEYS[k], seq) end
    end
  end
end
return 1
