--[[
  buckets: bounded reads of bucket sets, shared by gather and query

  A call reads at most MEMBERS_PER_CALL members and at most BUCKET_LIMIT of one
  bucket; lshrs.limits holds the same numbers for the client. Needs the prelude.
]]
local MAX_CODES = 8192
local MEMBERS_PER_CALL = 16384
local BUCKET_LIMIT = 8192

-- The first BUCKET_LIMIT members SSCAN gives from cursor 0: the same members for the
-- same server state, read in O(BUCKET_LIMIT) whatever the bucket's size. SSCAN may
-- return a member twice, so repeats are dropped.
local function cut_members(key)
  local members, seen, cursor = {}, {}, '0'
  repeat
    local step = rcall('SSCAN', key, cursor, 'COUNT', BUCKET_LIMIT - #members)
    cursor = step[1]
    for _, member in ipairs(step[2]) do
      if not seen[member] and #members < BUCKET_LIMIT then
        seen[member] = true
        members[#members + 1] = member
      end
    end
  until cursor == '0' or #members >= BUCKET_LIMIT
  return members
end

-- Reads the buckets of the codes ARGV[first..] in order, within the bounds above.
-- Returns the members of each bucket read (a list of lists), how many codes were
-- read, and the positions (1-based among the codes) of the buckets that were cut.
local function bounded_read(root, first)
  local buckets, cut, total, read = {}, {}, 0, 0
  local prefix = root .. 'b'
  for i = first, #ARGV do
    local key = prefix .. ARGV[i]
    local size = rcall('SCARD', key)
    local take = math.min(size, BUCKET_LIMIT)
    if read > 0 and total + take > MEMBERS_PER_CALL then break end
    if size > BUCKET_LIMIT then
      buckets[#buckets + 1] = cut_members(key)
      cut[#cut + 1] = i - first + 1
    elseif size > 0 then
      buckets[#buckets + 1] = rcall('SMEMBERS', key)
    end
    total = total + take
    read = read + 1
  end
  return buckets, read, cut
end
