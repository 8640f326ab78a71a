-- KEYS: the queue's 1 msg, 2 vis, 3 sent, 4 rc, 5 fr, 6 rcpt, 7 dls, 8 grp, 9 ord; then the
--       same nine of the dead-letter queue (10..18; the queue's own keys again when there is
--       none); 19 the set of queue names.
-- ARGV: 1 now, 2 hide_until, 3 limit, 4 oldest sent_at kept (ms), 5 now (ms),
--       6 max receives before redrive (-1: no redrive), 7 queue name, 8 '1' for FIFO order,
--       9 dead-letter queue name, 10.. one receipt per slot.
-- Rounds: take up to the wanted number of visible, unexpired messages (standard: by
-- visible_at, then seq; FIFO: by seq, none after a message of its group in flight); redrive
-- those received max-receives times (keeping their receive counts), hide and receipt the rest;
-- go again if any moved. Returns per message: seq, encoded message, receive count, first
-- receive (ms), receipt, dead-letter source (or '').
local now, hide, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local oldest, now_ms, max_receives = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local fifo, now_n = ARGV[8] == '1', tonumber(ARGV[1])
local taken, receipt_at, out = 0, 10, {}
local PAGE = 100

local function visible(want)
  local batch, offset = {}, 0
  while #batch < want do
    local page = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', offset, want)
    if #page == 0 then break end
    for _, seq in ipairs(page) do
      if #batch < want and tonumber(redis.call('ZSCORE', KEYS[3], seq)) >= oldest then
        batch[#batch + 1] = seq
      end
    end
    offset = offset + #page
  end
  return batch
end

local function fifo_visible(want)
  local held = {}
  for _, seq in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf')) do
    if redis.call('HEXISTS', KEYS[6], seq) == 1 then
      local group = redis.call('HGET', KEYS[8], seq)
      if group and (not held[group] or seq < held[group]) then held[group] = seq end
    end
  end
  local batch, offset = {}, 0
  while #batch < want do
    local page = redis.call('ZRANGE', KEYS[9], offset, offset + PAGE - 1)
    if #page == 0 then break end
    for _, seq in ipairs(page) do
      local group = redis.call('HGET', KEYS[8], seq)
      if #batch < want and group and (not held[group] or seq <= held[group])
          and tonumber(redis.call('ZSCORE', KEYS[2], seq)) <= now_n
          and tonumber(redis.call('ZSCORE', KEYS[3], seq)) >= oldest then
        batch[#batch + 1] = seq
      end
    end
    offset = offset + #page
  end
  return batch
end

local function move(seq)
  local body = redis.call('HGET', KEYS[1], seq)
  local sent = redis.call('ZSCORE', KEYS[3], seq)
  local count = redis.call('HGET', KEYS[4], seq)
  local first = redis.call('HGET', KEYS[5], seq)
  local group = redis.call('HGET', KEYS[8], seq)
  for k = 1, 9 do
    if k == 2 or k == 3 or k == 9 then redis.call('ZREM', KEYS[k], seq) else redis.call('HDEL', KEYS[k], seq) end
  end
  redis.call('HSET', KEYS[10], seq, body)
  redis.call('ZADD', KEYS[11], now, seq)
  redis.call('ZADD', KEYS[12], sent, seq)
  if count then redis.call('HSET', KEYS[13], seq, count) end
  if first then redis.call('HSET', KEYS[14], seq, first) end
  redis.call('HSET', KEYS[16], seq, ARGV[7])
  if group then redis.call('HSET', KEYS[17], seq, group) end
  redis.call('ZADD', KEYS[18], tonumber(seq), seq)
  redis.call('SADD', KEYS[19], ARGV[9])
end

while taken < limit do
  local moved = false
  local batch
  if fifo then batch = fifo_visible(limit - taken) else batch = visible(limit - taken) end
  for _, seq in ipairs(batch) do
    local count = tonumber(redis.call('HGET', KEYS[4], seq) or '0')
    if max_receives >= 0 and count >= max_receives then
      move(seq)
      moved = true
    else
      count = count + 1
      redis.call('HSET', KEYS[4], seq, count)
      redis.call('HSETNX', KEYS[5], seq, now_ms)
      redis.call('HSET', KEYS[6], seq, ARGV[receipt_at])
      redis.call('ZADD', KEYS[2], hide, seq)
      out[#out + 1] = seq
      out[#out + 1] = redis.call('HGET', KEYS[1], seq)
      out[#out + 1] = count
      out[#out + 1] = redis.call('HGET', KEYS[5], seq)
      out[#out + 1] = ARGV[receipt_at]
      out[#out + 1] = redis.call('HGET', KEYS[7], seq) or ''
      receipt_at = receipt_at + 1
      taken = taken + 1
    end
  end
  if not moved then break end
end
return out
