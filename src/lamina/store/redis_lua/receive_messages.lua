-- KEYS: the queue's 1 msg, 2 vis, 3 sent, 4 rc, 5 fr, 6 rcpt, 7 dls; then the same seven of the
--       dead-letter queue (8..14; the queue's own keys again when there is none).
-- ARGV: 1 now, 2 hide_until, 3 limit, 4 oldest sent_at kept (ms), 5 now (ms),
--       6 max receives before redrive (-1: no redrive), 7 queue name, 8.. one receipt per slot.
-- Rounds: take up to the wanted number of visible, unexpired messages (visible_at, then seq);
-- redrive those received max-receives times, hide and receipt the rest; go again if any moved.
-- Returns per message: seq, encoded message, receive count, first receive (ms), receipt,
-- dead-letter source (or '').
local now, hide, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local oldest, now_ms, max_receives = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local taken, receipt_at, out = 0, 8, {}

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

local function move(seq)
  local body = redis.call('HGET', KEYS[1], seq)
  local sent = redis.call('ZSCORE', KEYS[3], seq)
  for k = 1, 7 do
    if k == 2 or k == 3 then redis.call('ZREM', KEYS[k], seq) else redis.call('HDEL', KEYS[k], seq) end
  end
  redis.call('HSET', KEYS[8], seq, body)
  redis.call('ZADD', KEYS[9], now, seq)
  redis.call('ZADD', KEYS[10], sent, seq)
  redis.call('HSET', KEYS[14], seq, ARGV[7])
end

while taken < limit do
  local moved = false
  for _, seq in ipairs(visible(limit - taken)) do
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
