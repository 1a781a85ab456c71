--[[
  ivf_verify: check (and optionally repair) inverted lists or reverse-index hashes

  Synopsis
    EVALSHA <sha> 1 <root> <fingerprint> <repair> lists <list> [<list> ...]
    EVALSHA <sha> 1 <root> <fingerprint> <repair> range <list> <first> <count>
    EVALSHA <sha> 1 <root> <fingerprint> <repair> entries <chunk> [<chunk> ...]

  Atomic per call; lshrs verify calls it for a few lists or chunks at a time so no
  call holds Redis long. The lists are the source of truth: they hold the codes.

  "lists": each live record must be named by its id's reverse entry (at most 4,096
  records in all per call; a longer list is checked by "range": its slots
  first .. first + count - 1 that are live, count at most 4,096, last slot first). A record
  without an entry gets one; a record whose entry names another slot that holds
  the same id is a duplicate and is removed; an entry naming a slot that does not
  hold the id is pointed here. A count above the string's size is cut down.
  "entries": each field of <root>r<chunk> must be a canonical id of that chunk with
  an 8-byte value naming a live slot that holds the id; other fields are removed.

  KEYS[1]  root: the index's hash-tagged key prefix (keys: see ivf_insert).
  ARGV[1]  fingerprint: must equal the stored one (see init).
  ARGV[2]  repair: "1" repairs what it reports, "0" only reports.
  ARGV[3]  "lists", "range" or "entries".
  ARGV[4..] list numbers in [0, nlist), at most 1,024 holding at most 4,096 live
           records in all ("lists"); one list number, the first slot and the number
           of slots ("range"); or chunk numbers (decimal), at most 1,024 ("entries").

  Reply    array: first the number of good records ("lists") or good entries
           ("entries") seen, then one string per problem:
           "<kind> <id> <list> <slot>", kind one of short_list, record_without_entry,
           duplicate_record, entry_elsewhere, malformed_entry, entry_without_record
           (id, list and slot are "-" where unknown).
  Errors   LSHRS_NO_CONFIG <root>
           LSHRS_CONFIG_MISMATCH <stored> | <given>
           LSHRS_CLEARING <root>          repair while a clear is under way
           LSHRS_WRONG_TYPE <key> ...     <root>n, a given list or chunk holds another
                                          type (nothing is written; a reverse-index
                                          hash of another type reads as no entries)
           LSHRS_BAD_CONFIG <what>        cfg holds a malformed field
           LSHRS_BAD_ARGUMENT <what>
  Flags    allow-oom
           (a Redis Functions flag: runs out of memory; repairs add no ids)
]]
--- @include "prelude"
--- @include "lists"
local root = root_arg(KEYS)
arity(ARGV, 3, nil, '<fingerprint> <repair> lists|entries [<number> ...]')
local repair = ARGV[2] == '1'
if ARGV[2] ~= '0' and not repair then bad('repair must be 0 or 1') end
local cfg = attached(root, ARGV[1], {'nlist', 'record_bytes', 'clearing'})
if not cfg then fail('NO_CONFIG', shown(root)) end
local nlist, size = cfg[1], cfg[2]
if repair and cfg[3] then fail('CLEARING', shown(root)) end
local mode = ARGV[3]
if mode ~= 'lists' and mode ~= 'range' and mode ~= 'entries' then
  bad('mode must be lists, range or entries')
end
local numbers
local first_slot, last_slot = 0, math.huge
if mode == 'lists' then
  numbers = list_args(4, nlist, 1024)
  local records = 0
  for _, list in ipairs(numbers) do records = records + live_count(root, list) end
  if records > MAX_RECORDS then
    bad('the lists hold ' .. records .. ' records, more than ' .. MAX_RECORDS
      .. ' per call: check long lists by range')
  end
elseif mode == 'range' then
  if #ARGV ~= 6 then bad('range takes a list, a first slot and a count') end
  numbers = {list_arg(ARGV[4], nlist)}
  first_slot = count_arg(ARGV[5], 'first')
  local count = count_arg(ARGV[6], 'count')
  if count < 1 or count > MAX_RECORDS then
    bad('count must be in [1, ' .. MAX_RECORDS .. '], got ' .. ARGV[6])
  end
  last_slot = first_slot + count - 1
else
  if #ARGV - 3 > 1024 then bad('at most 1024 chunks per call') end
  numbers = {}
  for i = 4, #ARGV do
    numbers[#numbers + 1] = canonical_id(ARGV[i]) or bad('chunk ' .. ARGV[i])
  end
end

-- The keys this call reads and repairs must have their types; a caller checks (and
-- repairs) misplaced keys first.
if mode == 'lists' then
  check_type(root .. 'n', 'hash')
  for _, list in ipairs(numbers) do check_type(list_key(root, list), 'string') end
else
  for _, chunk in ipairs(numbers) do
    check_type(root .. 'r' .. string.format('%d', chunk), 'hash')
  end
end

local reply = {0}
local function report(kind, id, list, slot)
  local function text(v) return v and string.format('%d', v) or '-' end
  reply[#reply + 1] = kind .. ' ' .. text(id) .. ' ' .. text(list) .. ' ' .. text(slot)
end

-- The id stored at `slot` of `list`, or nil when the slot is not live.
local function id_at(list, slot)
  if slot >= live_count(root, list) then return nil end
  local record = rcall('GETRANGE', list_key(root, list), slot * size, slot * size + 7)
  if #record < 8 then return nil end
  return struct.unpack('<i8', record)
end

if mode ~= 'entries' then
  for _, list in ipairs(numbers) do
    local key = list_key(root, list)
    local live = live_count(root, list)
    local whole = math.floor(rcall('STRLEN', key) / size)
    if live > whole then
      report('short_list', nil, list, live)
      if repair then
        if whole == 0 then
          rcall('HDEL', root .. 'n', string.format('%d', list))
        else
          rcall('HSET', root .. 'n', string.format('%d', list), whole)
        end
      end
      live = whole
    end
    -- Last slot first: a repair that removes a record moves an already checked one.
    for slot = math.min(live - 1, last_slot), first_slot, -1 do
      local id = struct.unpack('<i8', rcall('GETRANGE', key, slot * size, slot * size + 7))
      local at_list, at_slot = entry_of(root, id, true)
      if at_list == list and at_slot == slot then
        reply[1] = reply[1] + 1
      elseif at_list == nil then
        report('record_without_entry', id, list, slot)
        if repair then set_entry(root, id, list, slot) end
        reply[1] = reply[1] + 1
      elseif at_list < nlist and id_at(at_list, at_slot) == id then
        report('duplicate_record', id, list, slot)
        if repair then remove_record(root, size, list, slot) end
      else
        report('entry_elsewhere', id, list, slot)
        if repair then set_entry(root, id, list, slot) end
        reply[1] = reply[1] + 1
      end
    end
  end
else
  for _, chunk in ipairs(numbers) do
    local key = root .. 'r' .. string.format('%d', chunk)
    local flat = rcall('HGETALL', key)
    for i = 1, #flat, 2 do
      local field, value = flat[i], flat[i + 1]
      local id = canonical_id(field)
      if id == nil or math.floor(id / CHUNK) ~= chunk or #value ~= 8 then
        report('malformed_entry', id, nil, nil)
        if repair then rcall('HDEL', key, field) end
      else
        local list, slot = struct.unpack('<I4I4', value)
        if list < nlist and id_at(list, slot) == id then
          reply[1] = reply[1] + 1
        else
          report('entry_without_record', id, list, slot)
          if repair then rcall('HDEL', key, field) end
        end
      end
    end
  end
end
return reply
