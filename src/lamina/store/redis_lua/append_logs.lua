-- KEYS: 1 the log id counter (lamina:{logs}:seq), 2 the set of groups, 3 the hash group ->
--       message bytes; 4.. the group sorted set of each event.
-- ARGV: per event: its group, its message's UTF-8 bytes, its encoded body (stream, timestamp,
--       message, ingestion time).
-- Each event gets the next id as its score; its member is "<id>:<bytes>:<body>" (unique by id).
local n = #ARGV / 3
local last = redis.call('INCRBY', KEYS[1], n)
local id = last - n
for i = 1, n do
  local group, size, body = ARGV[3 * i - 2], ARGV[3 * i - 1], ARGV[3 * i]
  id = id + 1
  redis.call('ZADD', KEYS[i + 3], id, tostring(id) .. ':' .. size .. ':' .. body)
  redis.call('SADD', KEYS[2], group)
  redis.call('HINCRBY', KEYS[3], group, size)
end
return last
