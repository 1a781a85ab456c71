--[[
  verify_part: check (and optionally repair) keys that verify left over, in slices

  Synopsis
    EVALSHA <sha> 1 <root> <repair> <cursor> <key> [<key> ...]

  verify checks a reverse-index hash or a bucket only when its checks fit the units
  left in its call; it reports the others, and the caller finishes them with this
  script: the first key from <cursor>, each further key from its start, in order,
  within 8,192 units per call (see includes/checks.lua; at least one entry or one
  SSCAN step per call). Call it again with the keys not finished and the cursor it
  returns, until every key is done. The checks are verify's (see verify.lua):
    <root>b<code>   the members SSCAN steps from the cursor return: each must have a
                    well-formed reverse entry naming this bucket in this band.
                    SSCAN returns every member present from the first call to the
                    last at least once (possibly twice, then reported twice); a
                    bucket Redis stores as an intset comes whole in one step.
    <root>r<chunk>  first the entries of the chunk's ids in order, from the id at
                    offset <cursor> in the chunk (0 .. 127; one HMGET per slice):
                    each must hold num_bands * sig_bytes bytes, and its id must be
                    a member of the bucket its entry names in every band; then
                    (cursor "n<HSCAN cursor>") the fields HSCAN returns, where any
                    field that is not a canonical id of this chunk is malformed.
  Each call is atomic; a key that is gone reads as done, and a key of another type
  is misplaced (reported; repair unlinks it).

  With <repair> = 1 the call fixes what it found, as verify does: ids missing from a
  bucket are added, stray and non-canonical members removed, malformed entries
  deleted, a misplaced key unlinked.

  KEYS[1]  root: the index's hash-tagged key prefix, e.g. "{lsh}:". Keys read:
           <root>cfg (num_bands, sig_bytes), the given keys, and the reverse-index
           hashes and buckets their checks name.
  ARGV[1]  repair: "1" to repair, "0" to only check.
  ARGV[2]  cursor: where to go on in the first key: "0" to start it, else the
           cursor the previous call returned.
  ARGV[3..] keys: the hex of each key's name after root, as verify reports it: a
           reverse-index hash "r<chunk>" or a bucket "b<code>" of a band below
           num_bands; at most 512.

  Reply    array of ten:
           1 how many of the given keys this call finished, from the first (integer);
           2 the cursor in the first key it did not finish ("0": not started, or
             every key finished);
           3 well-formed reverse entries checked, one integer per key this call
             worked on, from the first given (summed over the calls, a chunk's
             number of well-formed entries after repair);
           4 ids that are bucket members without a reverse entry (array);
           5 ids whose reverse entry names a bucket that lacks them (array);
           6 ids that are members of a bucket their entry does not name (array);
           7 malformed reverse entries, as "<chunk key suffix>/<field>" (array);
           8 the total size after repair of the buckets this call finished (integer);
           9 bucket members that are not canonical ids (array of strings);
          10 misplaced keys (array of key names).
           An id appears once per problem found, so possibly once per band.
  Errors   LSHRS_NO_CONFIG <root>                    the index has no configuration
           LSHRS_CLEARING <root>                     repair while a clear is under way
           LSHRS_WRONG_TYPE <key> ...                cfg holds another type
           LSHRS_BAD_CONFIG <what>                   cfg holds a malformed field
           LSHRS_BAD_ARGUMENT <what>
  Flags    allow-oom
           (a Redis Functions flag: runs out of memory; repairs add no ids)
]]
--- @include "prelude"
--- @include "checks"
if redis.replicate_commands then redis.replicate_commands() end
local root = root_arg(KEYS)

local MAX_KEYS = CALL_UNITS / KEY_COST
arity(ARGV, 3, 2 + MAX_KEYS, '<repair> <cursor> <key> [<key> ...] (at most ' .. MAX_KEYS
  .. ' keys)')
local cfg, code, detail = config(root, nil, {'num_bands', 'sig_bytes', 'clearing'}, false)
if code then return refuse(code, detail) end
if not cfg then return refuse('NO_CONFIG', shown(root)) end
local num_bands, width = cfg[1], cfg[2]
if ARGV[1] ~= '0' and ARGV[1] ~= '1' then bad('repair must be 0 or 1') end
local repair = ARGV[1] == '1'
if cfg[3] and repair then fail('CLEARING', shown(root)) end

-- The given keys: {name after root, 'r' or 'b', the rest of the name}.
local parts = {}
for i = 3, #ARGV do
  local name = from_hex(ARGV[i]) or ''
  local kind, rest = string.sub(name, 1, 1), string.sub(name, 2)
  local chunk = kind == 'r' and canonical_id(rest)
  local bucket = kind == 'b' and #rest == 2 + width
    and string.byte(rest, 1) * 256 + string.byte(rest, 2) < num_bands
  if not (chunk or bucket) then
    bad('key must be the hex of r<chunk> or of b<code> of a band below ' .. num_bands
      .. ', got ' .. shown(ARGV[i]))
  end
  parts[#parts + 1] = {root .. name, kind, rest}
end
local cursor = ARGV[2]
if parts[1][2] == 'r' then
  if not (int_in(cursor, 0, CHUNK - 1) or string.find(cursor, '^n%d+$')) then
    bad('the cursor of a reverse-index hash must be an offset in [0, 127] or n<digits>, got '
      .. shown(cursor))
  end
elseif not string.find(cursor, '^%d+$') then
  bad('the cursor of a bucket must be an SSCAN cursor, got ' .. shown(cursor))
end

local check = checker(root, num_bands, width, repair)
local spent, size, good = 0, 0, 0

-- Members of the bucket key of code from cursor, SSCAN step after step, until the
-- units are spent. True when the bucket is done.
local function check_members(key, code)
  repeat
    local step = rcall('SSCAN', key, cursor, 'COUNT', math.max(1, CALL_UNITS - spent))
    cursor = step[1]
    spent = spent + KEY_COST + #step[2]
    for i = 1, #step[2] do check.member(key, code, step[2][i]) end
  until cursor == '0' or spent >= CALL_UNITS
  if cursor ~= '0' then return false end
  size = size + rcall('SCARD', key)
  return true
end

-- Entries of the ids of the chunk (hash key) from offset cursor, as many per HMGET
-- as the units left allow (at least one id per call), then the names of every field,
-- HSCAN step after step. True when the hash is done.
local function check_entries(key, chunk)
  if string.sub(cursor, 1, 1) ~= 'n' then
    local base = canonical_id(chunk) * CHUNK
    local offset = tonumber(cursor)
    while offset < CHUNK do
      local left = CALL_UNITS - spent - KEY_COST
      local n = math.min(CHUNK - offset, math.floor(left / (num_bands + 1)))
      if n < 1 then
        if spent > KEY_COST then break end
        n = 1
      end
      local ids = {}
      for i = 1, n do ids[i] = string.format('%d', base + offset + i - 1) end
      local values = rcall('HMGET', key, unpack(ids))
      spent = spent + KEY_COST + n
      for i = 1, n do
        if values[i] and check.entry(key, chunk, ids[i], values[i]) then
          good = good + 1
          spent = spent + num_bands
        end
      end
      offset = offset + n
    end
    cursor = offset < CHUNK and string.format('%d', offset) or 'n0'
  end
  local scan = string.sub(cursor, 2)
  while string.sub(cursor, 1, 1) == 'n' and spent < CALL_UNITS do
    local step = rcall('HSCAN', key, scan, 'COUNT', math.max(1, CALL_UNITS - spent))
    scan = step[1]
    local fields = step[2]
    spent = spent + KEY_COST + #fields / 2
    for i = 1, #fields, 2 do
      if check.chunk_of(fields[i]) ~= chunk then
        check.entry(key, chunk, fields[i], fields[i + 1])
      end
    end
    cursor = scan == '0' and '0' or 'n' .. scan
    if scan == '0' then return true end
  end
  return false
end

local finished, goods = 0, {}
for i, part in ipairs(parts) do
  if i > 1 then
    if spent >= CALL_UNITS then break end
    cursor = '0'
  end
  local key, kind, rest = part[1], part[2], part[3]
  local key_type = rcall('TYPE', key).ok
  spent = spent + KEY_COST
  good = 0
  local done = true
  if key_type == 'none' then
    -- gone since verify reported it
  elseif key_type ~= (kind == 'r' and 'hash' or 'set') then
    check.misplace(key)
  elseif kind == 'b' then
    done = check_members(key, rest)
  else
    done = check_entries(key, rest)
  end
  goods[#goods + 1] = good
  if not done then break end
  finished = i
  cursor = '0'
end
return {finished, cursor, goods, check.without_entry, check.missing_member,
  check.stray_member, check.malformed, size, check.junk, check.misplaced}
