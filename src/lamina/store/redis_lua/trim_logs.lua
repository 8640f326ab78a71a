-- KEYS: 1 the set of groups, 2 the hash group -> message bytes.
-- Derived: ARGV[1] .. group name: each group's sorted set (all under the {logs} tag).
-- ARGV: 1 the group key prefix, 2 'count' or 'bytes', 3 how many events / bytes to keep,
--       4 the per-event overhead, 5 the group ('' every group; 'count' needs one).
-- 'count' keeps the newest N events of the group. 'bytes' removes the oldest events (of the
-- group, or of every group in id order) until the events left add up to at most N bytes,
-- each counting its message bytes plus the overhead. Returns how many events went.
local prefix, mode, keep, overhead = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local groups
if ARGV[5] ~= '' then groups = {ARGV[5]} else groups = redis.call('SMEMBERS', KEYS[1]) end

local function size_of(member)
  return tonumber(string.match(member, '^%d+:(%d+):'))
end

local function settle(group, freed)
  local key = prefix .. group
  if redis.call('EXISTS', key) == 0 then
    redis.call('SREM', KEYS[1], group)
    redis.call('HDEL', KEYS[2], group)
  elseif freed > 0 then
    redis.call('HINCRBY', KEYS[2], group, -freed)
  end
end

local removed = 0
if mode == 'count' then
  local key = prefix .. groups[1]
  local old = redis.call('ZRANGE', key, 0, -keep - 1)
  local freed = 0
  for _, member in ipairs(old) do freed = freed + size_of(member) end
  if #old > 0 then redis.call('ZREMRANGEBYRANK', key, 0, #old - 1) end
  settle(groups[1], freed)
  return #old
end

local total, freed = 0, {}
for _, group in ipairs(groups) do
  total = total + tonumber(redis.call('HGET', KEYS[2], group) or '0')
      + overhead * redis.call('ZCARD', prefix .. group)
  freed[group] = 0
end
while total > keep do
  local pick, pick_id = nil, nil
  for _, group in ipairs(groups) do
    local first = redis.call('ZRANGE', prefix .. group, 0, 0, 'WITHSCORES')
    if #first > 0 and (pick_id == nil or tonumber(first[2]) < pick_id) then
      pick, pick_id = group, tonumber(first[2])
    end
  end
  if pick == nil then break end
  local member = redis.call('ZPOPMIN', prefix .. pick)[1]
  local size = size_of(member)
  total = total - size - overhead
  freed[pick] = freed[pick] + size
  removed = removed + 1
end
for _, group in ipairs(groups) do settle(group, freed[group]) end
return removed
