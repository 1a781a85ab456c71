--[[
  lists: the inverted-list layout of IVF-PQ indexes, shared by the ivf_* scripts

  <root>l<list> is a STRING of fixed-size records (int64-le id, then the code);
  <root>n counts each list's live records (the string may hold spare bytes after
  them); <root>r<chunk> maps each id to its list and slot (uint32-le each).
  Needs the prelude.
]]
-- Live bytes above which a list is never rewritten whole (one copy of this much holds
-- Redis about a millisecond); lshrs.limits.COPY_BYTES_LIMIT holds the same.
local COPY_LIMIT = 2097152
-- Bytes of records a list may hold: Redis copies a string when it outgrows its
-- allocation (1 MiB at a time past 1 MiB), so this bounds that copy too.
-- lshrs.limits.MAX_LIST_BYTES holds the same.
local MAX_LIST_BYTES = 4194304
-- Records (or ids) one ivf_insert, ivf_delete or ivf_verify call takes at most.
local MAX_RECORDS = 4096
-- Bytes this call may still copy to shrink or rewrite lists: shrinking is skipped,
-- and compaction refused, past it.
local copy_left = COPY_LIMIT
-- A list number given as decimal text, in [0, nlist); a BAD_ARGUMENT error otherwise.
local function list_arg(text, nlist)
  local list = canonical_id(text)
  if list == nil or list >= nlist then
    bad('list ' .. tostring(text) .. ' must be in [0, ' .. nlist .. ')')
  end
  return list
end

-- ARGV[first..] as list numbers (see list_arg), at most `limit` of them.
local function list_args(first, nlist, limit)
  if #ARGV - first + 1 > limit then bad('at most ' .. limit .. ' lists per call') end
  local lists = {}
  for i = first, #ARGV do lists[#lists + 1] = list_arg(ARGV[i], nlist) end
  return lists
end

local function list_key(root, list)
  return root .. 'l' .. string.format('%d', list)
end

-- The id of the record starting at byte `at` (1-based) of `records`; fails on an id
-- outside [0, 2^53).
local function record_id(records, at)
  local id = struct.unpack('<i8', records, at)
  if id < 0 or id >= MAX_ID then
    bad('record id ' .. string.format('%d', id) .. ' must be in [0, 2^53)')
  end
  return id
end

local function live_count(root, list)
  return tonumber(read('HGET', root .. 'n', string.format('%d', list))) or 0
end

-- list, slot of an indexed id (a number), or nil (also for a malformed entry). With
-- `lenient`, a reverse-index key of another type reads as no entry (for checks).
local function entry_of(root, id, lenient)
  local key, field = reverse_key(root, id), string.format('%d', id)
  local entry
  if lenient then entry = redis.pcall('HGET', key, field) else entry = read('HGET', key, field) end
  if type(entry) ~= 'string' or #entry ~= 8 then return nil end
  return struct.unpack('<I4I4', entry)
end

-- Checks, before a call's first write, the types of the keys that removing
-- removals[list] records from each list writes: <root>n, the list, and the
-- reverse-index hashes of the records that may move into the freed slots (each
-- removal moves the list's last record, so they are among its last removals[list]).
local function check_removals(root, size, removals)
  check_type(root .. 'n', 'hash')
  for list, k in pairs(removals) do
    local key = list_key(root, list)
    check_type(key, 'string')
    local live = live_count(root, list)
    local from = math.max(live - k, 0)
    if live > from then
      local tail = rcall('GETRANGE', key, from * size, live * size - 1)
      for at = 1, #tail - 7, size do
        check_type(reverse_key(root, struct.unpack('<i8', tail, at)), 'hash')
      end
    end
  end
end

local function set_entry(root, id, list, slot)
  rcall('HSET', reverse_key(root, id), string.format('%d', id), struct.pack('<I4I4', list, slot))
end

-- Removes the record at `slot` of `list`: the list's last record takes its place
-- (its id's entry follows it), the count drops by one, and the string shrinks when
-- less than half of it is live and the call may still copy that much (copy_left).
-- Does not touch the removed id's own entry.
local function remove_record(root, size, list, slot)
  local key = list_key(root, list)
  local last = live_count(root, list) - 1
  if slot ~= last then
    local moved = rcall('GETRANGE', key, last * size, last * size + size - 1)
    rcall('SETRANGE', key, slot * size, moved)
    set_entry(root, struct.unpack('<i8', moved), list, slot)
  end
  if last == 0 then
    rcall('DEL', key)
    rcall('HDEL', root .. 'n', string.format('%d', list))
    return
  end
  rcall('HSET', root .. 'n', string.format('%d', list), last)
  local live = last * size
  local bytes = rcall('STRLEN', key)
  if bytes >= 2 * live and bytes - live >= 4096 and live <= copy_left then
    copy_left = copy_left - live
    rcall('SET', key, rcall('GETRANGE', key, 0, live - 1))
  end
end

-- Appends whole records to `list`; returns the slot of the first.
local function append_records(root, size, list, records)
  local first = live_count(root, list)
  rcall('SETRANGE', list_key(root, list), first * size, records)
  rcall('HSET', root .. 'n', string.format('%d', list), first + #records / size)
  return first
end
