--[[
  query: collision-counted candidate retrieval in one call

  Synopsis
    EVALSHA <sha> 1 <root> <fingerprint> <limit> <code> [<code> ...]

  Reads the given buckets, counts for every id in how many of them it appears (the
  number of bands it collides in with the query), and returns the <limit> ids with
  the highest counts; ties go to the smaller id. Read-only: also runs as
  EVALSHA_RO on Redis 7 and on replicas.

  KEYS[1]  root: the index's hash-tagged key prefix, e.g. "{lsh}:". Keys read:
           <root>cfg and <root>b<code> for each code.
  ARGV[1]  fingerprint: must equal the stored one (see init).
  ARGV[2]  limit: how many ids to return at most (0 returns only the total).
  ARGV[3..] codes: bucket codes (2-byte big-endian band number, then the band
           signature). Give each code once; several codes of one band (multi-probe)
           still count a band once, because an id sits in one bucket per band.

  Reply    array of three: total number of distinct candidate ids (integer); their
           ids (array of integers, best first); and each id's count (array of
           integers). An index that does not exist yet answers 0, [], [].
  Errors   LSHRS_CONFIG_MISMATCH <stored> | <given>
           LSHRS_BAD_ARGUMENT <what>
  Flags    no-writes
           (a Redis Functions flag: called with FCALL_RO, runs on replicas)
]]
--- @include "prelude"
local root = root_arg(KEYS)

arity(ARGV, 2, nil, '<fingerprint> <limit> [<code> ...]')
local cfg, code, detail = config(root, ARGV[1], {}, false)
if code then return refuse(code, detail) end
if not cfg then return {0, {}, {}} end
local limit = tonumber(ARGV[2])
if limit == nil or limit < 0 or limit % 1 ~= 0 then
  return refuse('BAD_ARGUMENT', 'limit must be a non-negative integer')
end

local counts, total = {}, 0
for i = 3, #ARGV do
  local members = rcall('SMEMBERS', root .. 'b' .. ARGV[i])
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
if limit == 0 or total == 0 then return {total, {}, {}} end

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
return {total, ids, hits}
