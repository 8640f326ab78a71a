-- KEYS: the queue's 1 msg, 2 vis, 3 sent, 4 rc, 5 fr, 6 rcpt, 7 dls, 8 grp, 9 ord.
-- ARGV: 1 in_flight_at ('' none), then pairs of (seq member, receipt). A message goes only if
-- the receipt is its newest and, with in_flight_at, it was still hidden then; a message left
-- because its visibility was over is returned as (seq member, receipt).
local in_flight_at, expired = tonumber(ARGV[1]), {}
for i = 2, #ARGV, 2 do
  local seq = ARGV[i]
  if redis.call('HGET', KEYS[6], seq) == ARGV[i + 1] then
    if in_flight_at and tonumber(redis.call('ZSCORE', KEYS[2], seq)) <= in_flight_at then
      expired[#expired + 1] = seq
      expired[#expired + 1] = ARGV[i + 1]
    else
      for k = 1, 9 do
        if k == 2 or k == 3 or k == 9 then
          redis.call('ZREM', KEYS[k], seq)
        else
          redis.call('HDEL', KEYS[k], seq)
        end
      end
    end
  end
end
return expired
