--[[
  verify_part: check (and optionally repair) part of one key that verify left over

  Synopsis
    EVALSHA <sha> 1 <root> <key> <cursor> <repair>

  verify checks a reverse-index hash or a bucket only when its checks fit the units
  left in its call; it reports the others, and the caller finishes each with this
  script, from cursor "0" until the cursor it returns is "0" again. The checks are
  verify's (see verify.lua), in slices of at most 8,192 units per call (see
  includes/checks.lua; at least one entry or one SSCAN step per call):
    <root>b<code>   the members one or more SSCAN steps from <cursor> return: each
                    must have a well-formed reverse entry naming this bucket in
                    this band. SSCAN returns every member present from the first
                    call to the last at least once (possibly twice, then reported
                    twice); a bucket Redis stores as an intset comes whole in one
                    step.
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
           <root>cfg (num_bands, sig_bytes), the given key, and the reverse-index
           hashes or buckets its checks name.
  ARGV[1]  key: the hex of the key's name after root, as verify reports it: a
           reverse-index hash "r<chunk>" or a bucket "b<code>" of a band below
           num_bands.
  ARGV[2]  cursor: "0" to start, then the cursor the previous call returned.
  ARGV[3]  repair: "1" to repair, "0" to only check.

  Reply    array of nine:
           1 the next cursor (bulk string, "0" when the key is done);
           2 well-formed reverse entries this call checked (integer; summed over
             the calls, a chunk's number of well-formed entries after repair);
           3 ids that are bucket members without a reverse entry (array);
           4 ids whose reverse entry names a bucket that lacks them (array);
           5 ids that are members of a bucket their entry does not name (array);
           6 malformed reverse entries, as "<chunk key suffix>/<field>" (array);
           7 the bucket's size after repair, in the call that finishes a bucket
             (integer; 0 otherwise);
           8 bucket members that are not canonical ids (array of strings);
           9 misplaced keys (array of key names).
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

arity(ARGV, 3, 3, '<key> <cursor> <repair>')
local cfg, code, detail = config(root, nil, {'num_bands', 'sig_bytes', 'clearing'}, false)
if code then return refuse(code, detail) end
if not cfg then return refuse('NO_CONFIG', shown(root)) end
local num_bands, width = cfg[1], cfg[2]
if ARGV[3] ~= '0' and ARGV[3] ~= '1' then bad('repair must be 0 or 1') end
local repair = ARGV[3] == '1'
if cfg[3] and repair then fail('CLEARING', shown(root)) end

local name = from_hex(ARGV[1]) or ''
local kind, rest = string.sub(name, 1, 1), string.sub(name, 2)
local cursor = ARGV[2]
if kind == 'r' and canonical_id(rest) then
  if not (int_in(cursor, 0, CHUNK - 1) or string.find(cursor, '^n%d+$')) then
    bad('the cursor of a reverse-index hash must be an offset in [0, 127] or n<digits>, got '
      .. shown(cursor))
  end
elseif kind == 'b' and #rest == 2 + width
    and string.byte(rest, 1) * 256 + string.byte(rest, 2) < num_bands then
  if not string.find(cursor, '^%d+$') then
    bad('the cursor of a bucket must be an SSCAN cursor, got ' .. shown(cursor))
  end
else
  bad('key must be the hex of r<chunk> or of b<code> of a band below ' .. num_bands
    .. ', got ' .. shown(ARGV[1]))
end

local key = root .. name
local check = checker(root, num_bands, width, repair)
local spent, good, size = KEY_COST, 0, 0
local key_type = rcall('TYPE', key).ok

-- Members of the bucket from cursor, SSCAN step after step, until the units are spent.
local function check_members()
  repeat
    local step = rcall('SSCAN', key, cursor, 'COUNT', math.max(1, CALL_UNITS - spent))
    cursor = step[1]
    spent = spent + KEY_COST + #step[2]
    for i = 1, #step[2] do check.member(key, rest, step[2][i]) end
  until cursor == '0' or spent >= CALL_UNITS
  if cursor == '0' then size = rcall('SCARD', key) end
end

-- Entries of the chunk's ids from offset cursor, as many per HMGET as the units
-- left allow (at least one id per call), then the names of every field, HSCAN step
-- after step.
local function check_entries()
  local base = canonical_id(rest) * CHUNK
  if string.sub(cursor, 1, 1) ~= 'n' then
    local offset, first = tonumber(cursor), tonumber(cursor)
    while offset < CHUNK do
      local left = CALL_UNITS - spent - KEY_COST
      local n = math.min(CHUNK - offset, math.floor(left / (num_bands + 1)))
      if n < 1 then
        if offset > first then break end
        n = 1
      end
      local ids = {}
      for i = 1, n do ids[i] = string.format('%d', base + offset + i - 1) end
      local values = rcall('HMGET', key, unpack(ids))
      spent = spent + KEY_COST + n
      for i = 1, n do
        if values[i] and check.entry(key, rest, ids[i], values[i]) then
          good = good + 1
          spent = spent + num_bands
        end
      end
      offset = offset + n
    end
    if offset < CHUNK then
      cursor = string.format('%d', offset)
      return
    end
    cursor = 'n0'
  end
  local scan = string.sub(cursor, 2)
  while spent < CALL_UNITS do
    local step = rcall('HSCAN', key, scan, 'COUNT', math.max(1, CALL_UNITS - spent))
    scan = step[1]
    local fields = step[2]
    spent = spent + KEY_COST + #fields / 2
    for i = 1, #fields, 2 do
      if check.chunk_of(fields[i]) ~= rest then
        check.entry(key, rest, fields[i], fields[i + 1])
      end
    end
    if scan == '0' then
      cursor = '0'
      return
    end
  end
  cursor = 'n' .. scan
end

if key_type == 'none' then
  cursor = '0'
elseif key_type ~= (kind == 'r' and 'hash' or 'set') then
  check.misplace(key)
  cursor = '0'
elseif kind == 'b' then
  check_members()
else
  check_entries()
end
return {cursor, good, check.without_entry, check.missing_member, check.stray_member,
  check.malformed, size, check.junk, check.misplaced}
