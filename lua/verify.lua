--[[
  verify: check (and optionally repair) one batch of an index's keys

  Synopsis
    EVALSHA <sha> 1 <root> <cursor> <count> <repair> <members>

  Runs one SCAN step over the keys matching <root>* and checks each key it returns
  against the reverse index, which is the source of truth:
    <root>r<chunk>  every entry must be well formed (a canonical id of this chunk,
                    num_bands * sig_bytes bytes of signatures), and the id must be a
                    member of the bucket its entry names in every band;
    <root>b<code>   every member must have a well-formed reverse entry naming this
                    bucket in this band (only with <members> = 1; otherwise the
                    call just reports the bucket's size).
  A caller can first run a cheap pass with <members> = 0: when every entry's buckets
  hold its id and the bucket sizes add up to entries * num_bands, no bucket can hold
  anything else, and the member checks (one HGET per membership) are not needed.
  Call it again with the returned cursor until that is "0". Each call is atomic and
  does bounded work (about <count> keys and their members), so a large index is
  checked incrementally without blocking the server for long. Keys of other indexes
  are never read: glob characters in root are escaped.

  Keys at names the index uses that it cannot hold are misplaced: a bucket (a name
  <root>b<code> with a code of 2 + sig_bytes bytes), reverse or semantic-ID hash, or
  vector of another type, and a bucket whose band is not below num_bands.

  With <repair> = 1 the call also fixes what it found, from the reverse index: ids
  missing from a bucket are added, stray members (and members that are not
  canonical ids) are removed, malformed entries are deleted (the ids are then no
  longer indexed and are reported so the caller can index them again), and
  misplaced keys are unlinked. Counting and repairing the "count" field is the
  caller's job (see recount.lua), because it needs the totals of every call.

  KEYS[1]  root: the index's hash-tagged key prefix, e.g. "{lsh}:". Keys read:
           <root>cfg (num_bands, sig_bytes), <root>r<chunk>, <root>b<code>.
  ARGV[1]  cursor: "0" to start, then the cursor the previous call returned.
  ARGV[2]  count: the SCAN COUNT hint (keys examined per call), e.g. 50.
  ARGV[3]  repair: "1" to repair, "0" to only check.
  ARGV[4]  members: "1" to check every bucket member, "0" to only size buckets.

  Reply    array of eleven:
           1 the next cursor (bulk string, "0" when done);
           2 keys examined by this call (integer);
           3 per reverse-index key examined: its key suffix and its number of
             well-formed entries after repair (flat array "r12", 37, "r13", 5, ...;
             SCAN may return a key twice, so callers count each suffix once);
           4 ids that are bucket members without a reverse entry (array of strings);
           5 ids whose reverse entry names a bucket that lacks them (array);
           6 ids that are members of a bucket their entry does not name (array);
           7 malformed reverse entries, as "<chunk key suffix>/<field>" (array);
           8 keys under root whose names the index does not use (array of key
             names; never modified). The vector store's <root>v<id> strings and the
             semantic-ID hashes <root>s<chunk>, <root>sn and <root>sc are known and
             not reported;
           9 the total size of the buckets examined, after repair (integer; a bucket
             SCAN returns twice counts twice, which can only cost the caller an
             unneeded member pass);
          10 bucket members that are not canonical ids (array of strings);
          11 misplaced keys, see above (array of key names).
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
if redis.replicate_commands then redis.replicate_commands() end
local root = root_arg(KEYS)

arity(ARGV, 4, 4, '<cursor> <count> <repair> <members>')
local cfg, code, detail = config(root, nil, {'num_bands', 'sig_bytes', 'clearing'}, false)
if code then return refuse(code, detail) end
if not cfg then return refuse('NO_CONFIG', shown(root)) end
local num_bands, width = cfg[1], cfg[2]
if cfg[3] and ARGV[3] == '1' then fail('CLEARING', shown(root)) end
local count = tonumber(ARGV[2])
if count == nil or count < 1 or count % 1 ~= 0 then
  return refuse('BAD_ARGUMENT', 'count must be a positive integer')
end
if (ARGV[3] ~= '0' and ARGV[3] ~= '1') or (ARGV[4] ~= '0' and ARGV[4] ~= '1') then
  return refuse('BAD_ARGUMENT', 'repair and members must be 0 or 1')
end
local repair = ARGV[3] == '1'
local check_members = ARGV[4] == '1'
local sigs_len = num_bands * width

local band_key = {}
for b = 0, num_bands - 1 do
  band_key[b] = root .. 'b' .. string.char(math.floor(b / 256), b % 256)
end

local function chunk_of(id)
  local n = canonical_id(id)
  if n == nil then return nil end
  return string.format('%d', math.floor(n / CHUNK))
end

-- The reverse entry of id, or nil when it has none or a malformed one (or its
-- chunk key holds another type).
local function entry_of(id)
  local chunk = chunk_of(id)
  if chunk == nil then return nil end
  local sigs = redis.pcall('HGET', root .. 'r' .. chunk, id)
  if type(sigs) ~= 'string' or #sigs ~= sigs_len then return nil end
  return sigs
end

local without_entry, missing_member, stray_member, malformed, unknown = {}, {}, {}, {}, {}
local junk, misplaced, reported = {}, {}, {}
local entries, sizes = {}, 0

-- Reports a misplaced key once per call; repair unlinks it.
local function misplace(key)
  if reported[key] then return end
  reported[key] = true
  misplaced[#misplaced + 1] = key
  if repair then rcall('UNLINK', key) end
end

local function check_chunk(key, chunk)
  local fields = rcall('HGETALL', key)
  local good = 0
  for i = 1, #fields, 2 do
    local id, sigs = fields[i], fields[i + 1]
    if chunk_of(id) ~= chunk or #sigs ~= sigs_len then
      malformed[#malformed + 1] = string.sub(key, #root + 1) .. '/' .. id
      if repair then rcall('HDEL', key, id) end
    else
      good = good + 1
      for b = 0, num_bands - 1 do
        local first = b * width + 1
        local bucket = band_key[b] .. string.sub(sigs, first, first + width - 1)
        local member = redis.pcall('SISMEMBER', bucket, id)
        if type(member) == 'table' then
          misplace(bucket)
          member = 0
        end
        if member == 0 then
          missing_member[#missing_member + 1] = id
          if repair then rcall('SADD', bucket, id) end
        end
      end
    end
  end
  entries[#entries + 1] = 'r' .. chunk
  entries[#entries + 1] = good
end

local function check_bucket(key, code)
  local band = string.byte(code, 1) * 256 + string.byte(code, 2)
  local first = band * width + 1
  local sig = string.sub(code, 3)
  local members = rcall('SMEMBERS', key)
  for i = 1, #members do
    local id = members[i]
    local sigs = entry_of(id)
    local problems = nil
    if canonical_id(id) == nil then
      problems = junk
    elseif sigs == nil then
      problems = without_entry
    elseif string.sub(sigs, first, first + width - 1) ~= sig then
      problems = stray_member
    end
    if problems then
      problems[#problems + 1] = id
      if repair then rcall('SREM', key, id) end
    end
  end
end

local pattern = string.gsub(root, '[%*%?%[%]\\]', '\\%0') .. '*'
local reply = rcall('SCAN', ARGV[1], 'MATCH', pattern, 'COUNT', count)
local keys = reply[2]
for k = 1, #keys do
  local key = keys[k]
  local kind = string.sub(key, #root + 1, #root + 1)
  local rest = string.sub(key, #root + 2)
  local key_type = rcall('TYPE', key).ok
  -- The type each name the index uses must have.
  local wanted = nil
  if kind == 'r' and canonical_id(rest) then
    wanted = 'hash'
  elseif kind == 'b' and #rest == 2 + width then
    wanted = 'set'
  elseif kind == 'v' and canonical_id(rest) then
    wanted = 'string'
  elseif kind == 's' and (rest == 'n' or rest == 'c' or canonical_id(rest)) then
    wanted = 'hash'
  end
  if key_type == 'none' then
    -- unlinked by this call's repair, or expired since the scan
  elseif wanted == nil then
    if key ~= root .. 'cfg' and key ~= root .. 'model' then unknown[#unknown + 1] = key end
  elseif key_type ~= wanted then
    misplace(key)
  elseif kind == 'r' then
    check_chunk(key, rest)
  elseif kind == 'b' then
    if string.byte(rest, 1) * 256 + string.byte(rest, 2) < num_bands then
      if check_members then check_bucket(key, rest) end
      sizes = sizes + rcall('SCARD', key)
    else
      misplace(key)
    end
  end
end
return {reply[1], #keys, entries, without_entry, missing_member, stray_member, malformed,
  unknown, sizes, junk, misplaced}
