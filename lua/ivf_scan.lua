--[[
  ivf_scan: the live records of several inverted lists, within a byte bound

  Synopsis
    EVALSHA <sha> 1 <root> <fingerprint> <max_bytes> <start> <list> [<list> ...]

  Returns the given lists' live records, one binary string per list, in the order
  the lists are given; the client scores the codes itself (lshrs: a lookup table per
  query in numpy). Read-only: also runs as EVALSHA_RO on Redis 7 and on replicas.
  Its work is one HMGET and one GETRANGE per list: memory copies of the bytes
  returned, at most <max_bytes> of records.

  The first list is read from record <start> on (0: from its first record). The
  call reads whole records, lists in order, until the next record would pass
  <max_bytes>; then it stops, and its first reply element says where to go on: the
  client calls again with the lists from the last one returned (start = next) or
  from the one after it (next = 0). With every given list returned whole, next is
  0 and the reply holds one string per given list.

  KEYS[1]  root: the index's hash-tagged key prefix. Keys read: <root>cfg, <root>n
           and <root>l<list> for each list (see ivf_insert).
  ARGV[1]  fingerprint: must equal the stored one (see init).
  ARGV[2]  max_bytes: record bytes this call returns at most, from record_bytes to
           2,097,152.
  ARGV[3]  start: the first record of the first list to return (decimal, >= 0).
  ARGV[4..] lists: decimal list numbers in [0, nlist), at most 4,096 of them.

  Reply    array: first next (integer), then one bulk string per list returned, in
           the order given: its records from the start (record_bytes each: int64-le
           id, then the code), empty for an empty list. next = 0: the last string
           ends its list; next > 0: the last list was cut after record next - 1 and
           the lists after it were not read. An index that does not exist answers
           0 and an empty string per list.
  Errors   LSHRS_CONFIG_MISMATCH <stored> | <given>
           LSHRS_BAD_ARGUMENT <what>
  Flags    no-writes
           (a Redis Functions flag: called with FCALL_RO, runs on replicas)
]]
--- @include "prelude"
--- @include "lists"
local MAX_BYTES = 2097152
local root = root_arg(KEYS)
local cfg = attached(root, ARGV[1], {'nlist', 'record_bytes'})
if not cfg then
  local reply = {0}
  for i = 4, #ARGV do reply[#reply + 1] = '' end
  return reply
end
local nlist, size = cfg[1], cfg[2]
local budget = count_arg(ARGV[2], 'max_bytes')
if budget < size or budget > MAX_BYTES then
  bad('max_bytes must be in [' .. size .. ', ' .. MAX_BYTES .. '], got ' .. ARGV[2])
end
local start = count_arg(ARGV[3], 'start')
list_args(4, nlist, 4096)
if #ARGV < 4 then return {0} end
local names = {unpack(ARGV, 4)}
local counts = read('HMGET', root .. 'n', unpack(names))
local reply = {0}
local left = math.floor(budget / size)
for i, name in ipairs(names) do
  local live = tonumber(counts[i]) or 0
  local from = i == 1 and math.min(start, live) or 0
  local take = math.min(live - from, left)
  if take < live - from and take == 0 then break end
  if take > 0 then
    reply[#reply + 1] = read('GETRANGE', root .. 'l' .. name, from * size, (from + take) * size - 1)
  else
    reply[#reply + 1] = ''
  end
  left = left - take
  if take < live - from then
    reply[1] = from + take
    break
  end
end
return reply
