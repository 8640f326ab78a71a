-- KEYS[1]: the log id counter (lamina:{logs}:seq); KEYS[2..]: the group sorted set of each event.
-- ARGV: per event, its encoded body (stream, timestamp, message, ingestion time).
-- Each event gets the next id as its score; its member is "<id>:<body>" (unique by id).
local last = redis.call('INCRBY', KEYS[1], #ARGV)
local id = last - #ARGV
for i = 1, #ARGV do
  id = id + 1
  redis.call('ZADD', KEYS[i + 1], id, tostring(id) .. ':' .. ARGV[i])
end
return last
