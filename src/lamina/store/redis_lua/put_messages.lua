-- KEYS: 1 the message sequence counter (lamina:{queues}:seq), 2 the set of queue names, then
--       the queue's 3 msg, 4 vis, 5 sent, 6 rc, 7 fr, 8 rcpt, 9 dls, 10 grp, 11 ord, 12 dd,
--       13 ddx.
-- ARGV: 1 the queue name, 2 the deduplication window (ms); then per message: encoded message,
--       visible_at, sent_at (ms), group id ('' none), deduplication key ('' none), message id.
-- Each stored message gets the next sequence number, zero-padded as its member. A message whose
-- deduplication key is remembered (its expiry after the message's sent_at) is not stored: its
-- entry names the first message. Returns per message: message id, seq.
local window, out = tonumber(ARGV[2]), {}
redis.call('SADD', KEYS[2], ARGV[1])
for i = 3, #ARGV, 6 do
  local sent, dedup = tonumber(ARGV[i + 2]), ARGV[i + 4]
  local seen = false
  if dedup ~= '' then
    for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[13], '-inf', sent)) do
      redis.call('HDEL', KEYS[12], old)
    end
    redis.call('ZREMRANGEBYSCORE', KEYS[13], '-inf', sent)
    local first = redis.call('HGET', KEYS[12], dedup)
    if first then
      local id, seq = string.match(first, '^(.*):(%d+)$')
      out[#out + 1] = id
      out[#out + 1] = seq
      seen = true
    end
  end
  if not seen then
    local seq = redis.call('INCR', KEYS[1])
    local member = string.format('%016d', seq)
    redis.call('HSET', KEYS[3], member, ARGV[i])
    redis.call('ZADD', KEYS[4], ARGV[i + 1], member)
    redis.call('ZADD', KEYS[5], sent, member)
    redis.call('ZADD', KEYS[11], seq, member)
    if ARGV[i + 3] ~= '' then redis.call('HSET', KEYS[10], member, ARGV[i + 3]) end
    if dedup ~= '' then
      redis.call('HSET', KEYS[12], dedup, ARGV[i + 5] .. ':' .. seq)
      redis.call('ZADD', KEYS[13], sent + window, dedup)
    end
    out[#out + 1] = ARGV[i + 5]
    out[#out + 1] = seq
  end
end
return out
