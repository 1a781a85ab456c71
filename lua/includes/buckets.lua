--[[
  buckets: bounded reads of bucket sets, shared by gather and query

  A call spends at most CALL_BUDGET units: every bucket read costs CODE_COST, plus
  one per member read whole (SMEMBERS), plus two per member of a bucket cut to
  BUCKET_LIMIT members (SSCAN). lshrs.limits holds the same numbers for the client.
  Needs the prelude.
]]
local MAX_CODES = 8192
local CALL_BUDGET = 16384
local CODE_COST = 16
local BUCKET_LIMIT = 8192

-- The first BUCKET_LIMIT members SSCAN gives from cursor 0: the same members for the
-- same server state, read in O(BUCKET_LIMIT) whatever the bucket's size. One SSCAN
-- call returns at least COUNT members unless the table is sparse; the calls after
-- it may repeat a member, so repeats are dropped then.
local function cut_members(key)
  local step = rcall('SSCAN', key, '0', 'COUNT', BUCKET_LIMIT)
  local members, cursor = step[2], step[1]
  if #members < BUCKET_LIMIT and cursor ~= '0' then
    local seen = {}
    for _, member in ipairs(members) do seen[member] = true end
    repeat
      step = rcall('SSCAN', key, cursor, 'COUNT', BUCKET_LIMIT - #members)
      cursor = step[1]
      for _, member in ipairs(step[2]) do
        if not seen[member] then
          seen[member] = true
          members[#members + 1] = member
        end
      end
    until cursor == '0' or #members >= BUCKET_LIMIT
  end
  for i = #members, BUCKET_LIMIT + 1, -1 do members[i] = nil end
  return members
end

-- Reads the buckets of the codes ARGV[first..] in order, within CALL_BUDGET (the
-- first bucket is always read). Returns the members of each bucket read (a list of
-- lists), how many codes were read, and the positions (1-based among the codes) of
-- the buckets that were cut.
local function bounded_read(root, first)
  local buckets, cut, spent, codes_read = {}, {}, 0, 0
  local prefix = root .. 'b'
  for i = first, #ARGV do
    local key = prefix .. ARGV[i]
    local size = read('SCARD', key)
    local cost = CODE_COST + (size > BUCKET_LIMIT and 2 * BUCKET_LIMIT or size)
    if codes_read > 0 and spent + cost > CALL_BUDGET then break end
    if size > BUCKET_LIMIT then
      buckets[#buckets + 1] = cut_members(key)
      cut[#cut + 1] = i - first + 1
    elseif size > 0 then
      buckets[#buckets + 1] = read('SMEMBERS', key)
    end
    spent = spent + cost
    codes_read = codes_read + 1
  end
  return buckets, codes_read, cut
end
