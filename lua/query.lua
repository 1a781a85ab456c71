--[[
  query: collision-counted candidate retrieval in one call

  Synopsis
    EVALSHA <sha> 1 <root> <fingerprint> <limit> <code> [<code> ...]

  Reads the given buckets, counts for every id in how many of them it appears (the
  number of bands it collides in with the query), and returns the <limit> ids with
  the highest counts; ties go to the smaller id. Read-only: also runs as
  EVALSHA_RO on Redis 7 and on replicas.

  Bounded work, as gather: the call spends at most 16,384 units (16 per bucket, one
  per member read whole, two per member of a cut bucket), stopping before a bucket
  that would take it past that (the first is always read), and cuts a bucket of more
  than 8,192 members to the 8,192 SSCAN gives first from cursor 0. Codes left unread
  are not counted: the reply says how many were read.

  KEYS[1]  root: the index's hash-tagged key prefix, e.g. "{lsh}:". Keys read:
           <root>cfg and <root>b<code> for each code read.
  ARGV[1]  fingerprint: must equal the stored one (see init).
  ARGV[2]  limit: how many ids to return at most, 0 to 100,000 (0 returns only the
           total).
  ARGV[3..] codes: bucket codes (2-byte big-endian band number, then the band
           signature), at most 8,192. Give each code once; several codes of one band
           (multi-probe) still count a band once, because an id sits in one bucket
           per band.

  Reply    array of five: total number of distinct candidate ids (integer); their
           ids (array of integers, best first); each id's count (array of
           integers); how many of the given codes were read (integer, the first
           ones); the positions (1-based among the codes) of the buckets that were
           cut (array of integers). An index that does not exist yet answers
           0, [], [], the number of codes, [].
  Errors   LSHRS_CONFIG_MISMATCH <stored> | <given>
           LSHRS_WRONG_TYPE <key> ...   a given bucket holds another type than a set
           LSHRS_BAD_ARGUMENT <what>
  Flags    no-writes
           (a Redis Functions flag: called with FCALL_RO, runs on replicas)
]]
--- @include "prelude"
--- @include "buckets"
local root = root_arg(KEYS)
local MAX_LIMIT = 100000

arity(ARGV, 2, nil, '<fingerprint> <limit> [<code> ...]')
local cfg, code, detail = config(root, ARGV[1], {}, false)
if code then return refuse(code, detail) end
local limit = tonumber(ARGV[2])
if limit == nil or limit < 0 or limit % 1 ~= 0 or limit > MAX_LIMIT then
  return refuse('BAD_ARGUMENT', 'limit must be an integer in [0, ' .. MAX_LIMIT .. '], got '
    .. tostring(ARGV[2]))
end
if #ARGV - 2 > MAX_CODES then
  return refuse('BAD_ARGUMENT', 'at most ' .. MAX_CODES .. ' codes per call, got ' .. (#ARGV - 2))
end
if not cfg then return {0, {}, {}, #ARGV - 2, {}} end

local buckets, codes_read, cut = bounded_read(root, 3)
local counts, total = {}, 0
for _, members in ipairs(buckets) do
  for j = 1, #members do
    local id = members[j]
    local c = counts[id]
    if c then
      counts[id] = c + 1
    else
      counts[id] = 1
      total = total + 1
    end
  end
end
if limit == 0 or total == 0 then return {total, {}, {}, codes_read, cut} end

-- Group ids by count; counts are small integers, so this is a bucket sort.
local groups, top = {}, 0
for id, c in pairs(counts) do
  local group = groups[c]
  if group == nil then
    group = {}
    groups[c] = group
    if c > top then top = c end
  end
  group[#group + 1] = tonumber(id)
end

local function sift_down(heap, i, size)
  while true do
    local left, largest = 2 * i, i
    if left <= size and heap[left] > heap[largest] then largest = left end
    if left + 1 <= size and heap[left + 1] > heap[largest] then largest = left + 1 end
    if largest == i then return end
    heap[i], heap[largest] = heap[largest], heap[i]
    i = largest
  end
end

-- The k smallest numbers of list, ascending: a bounded max-heap when list is much
-- longer than k, so a huge group of single collisions is never fully sorted.
local function smallest(list, k)
  if #list <= 4 * k then
    table.sort(list)
    return list
  end
  local heap = {}
  for i = 1, k do heap[i] = list[i] end
  for i = math.floor(k / 2), 1, -1 do sift_down(heap, i, k) end
  for i = k + 1, #list do
    if list[i] < heap[1] then
      heap[1] = list[i]
      sift_down(heap, 1, k)
    end
  end
  table.sort(heap)
  return heap
end

local ids, hits, n = {}, {}, 0
for c = top, 1, -1 do
  local need = limit - n
  if need <= 0 then break end
  local group = groups[c]
  if group then
    group = smallest(group, need)
    for k = 1, math.min(need, #group) do
      n = n + 1
      ids[n] = group[k]
      hits[n] = c
    end
  end
end
return {total, ids, hits, codes_read, cut}
