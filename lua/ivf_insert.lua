--[[
  ivf_insert: append records to inverted lists, or move re-inserted ids

  Synopsis
    EVALSHA <sha> 1 <root> <fingerprint> <list> <records> [<list> <records> ...]

  Atomic per call: every record is written, or (on any error) nothing: the
  arguments, the configuration and the type of every key the call writes are
  checked before its first write. An id
  inserted again into the list it is in is overwritten in place; into another list,
  it leaves its old list (the old list's last record fills its slot) and is
  appended to the new one. One SETRANGE appends all of a list's new records.

  KEYS[1]  root: the index's hash-tagged key prefix, e.g. "{docs}:". Keys written:
           <root>l<list>   STRING: the list's records back to back, fixed size
                           record_bytes each; only the first <root>n[list] records
                           are live (bytes after them are spare capacity).
           <root>n         HASH list -> number of live records.
           <root>r<chunk>  HASH id -> 8 bytes: list, slot as uint32 little-endian;
                           chunk = floor(id / 128), decimal.
           <root>cfg       HASH: "count" counts indexed ids.

  ARGV[1]  fingerprint: must equal the stored one (see init).
  ARGV[2k] list: decimal list number in [0, nlist), each list once per call.
  ARGV[2k+1] records: one or more records of record_bytes bytes: the id as int64
           little-endian (an integer in [0, 2^53)), then the code (code_bytes bytes).
           Every id at most once per call; at most 4,096 records per call. A list
           may hold at most 4,194,304 bytes of records: Redis copies a string as it
           grows, so a longer list would hold Redis longer at each growth.

  Reply    integer: how many of the ids were new to the index.
  Errors   LSHRS_NO_CONFIG <root>                    the index does not exist (run init)
           LSHRS_CONFIG_MISMATCH <stored> | <given>
           LSHRS_CLEARING <root>                     a clear of the index is under way
           LSHRS_WRONG_TYPE <key> ...                a key to write holds another type
           LSHRS_BAD_CONFIG <what>                   cfg holds a malformed field
           LSHRS_BAD_ARGUMENT <what>                 also for a list that would grow
                                                     past its bound
           (on any error nothing is written)
]]
--- @include "prelude"
--- @include "lists"
local root = root_arg(KEYS)
arity(ARGV, 1, nil, '<fingerprint> [<list> <records> ...]')
local cfg = attached(root, ARGV[1], {'nlist', 'record_bytes'}, true)
if not cfg then fail('NO_CONFIG', shown(root)) end
local nlist, size = cfg[1], cfg[2]

-- Validate everything before the first write.
if #ARGV % 2 ~= 1 then bad('list/records arguments must come in pairs') end
local lists, seen_list, seen_id, records_given = {}, {}, {}, 0
-- Records each old list loses to ids that move to another list.
local removals = {}
for k = 2, #ARGV, 2 do
  local list = list_arg(ARGV[k], nlist)
  if seen_list[list] then bad('list ' .. ARGV[k] .. ' is given twice') end
  seen_list[list] = true
  local records = ARGV[k + 1]
  if #records == 0 or #records % size ~= 0 then
    bad('records of list ' .. ARGV[k] .. ' must be a multiple of ' .. size .. ' bytes')
  end
  records_given = records_given + #records / size
  if records_given > MAX_RECORDS then bad('at most ' .. MAX_RECORDS .. ' records per call') end
  local ids, growth = {}, 0
  for at = 1, #records, size do
    local id = record_id(records, at)
    if seen_id[id] then bad('id ' .. string.format('%d', id) .. ' is given twice') end
    seen_id[id] = true
    ids[#ids + 1] = id
    local old_list = entry_of(root, id)
    if old_list ~= list then
      growth = growth + 1
      if old_list then removals[old_list] = (removals[old_list] or 0) + 1 end
    end
  end
  local bytes = (live_count(root, list) + growth) * size
  if bytes > MAX_LIST_BYTES then
    bad('list ' .. ARGV[k] .. ' would hold ' .. bytes .. ' bytes, more than '
      .. MAX_LIST_BYTES .. ': an index with more lists (nlist) keeps them shorter')
  end
  lists[#lists + 1] = {list = list, records = records, ids = ids}
end
-- Types: the lists appended to, and what leaving an old list touches.
for _, group in ipairs(lists) do check_type(list_key(root, group.list), 'string') end
check_removals(root, size, removals)

-- Pass 1: ids already indexed are overwritten in place, or leave their old list.
local added = 0
local appends = {}
for _, group in ipairs(lists) do
  local keep = {}
  for j, id in ipairs(group.ids) do
    local record = string.sub(group.records, (j - 1) * size + 1, j * size)
    local old_list, old_slot = entry_of(root, id)
    if old_list == group.list then
      rcall('SETRANGE', list_key(root, old_list), old_slot * size, record)
    else
      if old_list then
        remove_record(root, size, old_list, old_slot)
      else
        added = added + 1
      end
      keep[#keep + 1] = {id = id, record = record}
    end
  end
  appends[#appends + 1] = {list = group.list, items = keep}
end

-- Pass 2: one append per list, then the moved and new ids' reverse entries.
for _, group in ipairs(appends) do
  if #group.items > 0 then
    local records = {}
    for j, item in ipairs(group.items) do records[j] = item.record end
    local first = append_records(root, size, group.list, table.concat(records))
    for j, item in ipairs(group.items) do
      set_entry(root, item.id, group.list, first + j - 1)
    end
  end
end

if added > 0 then rcall('HINCRBY', root .. 'cfg', 'count', added) end
return added
