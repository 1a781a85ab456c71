--[[
  insert: add ids to their buckets, or move re-inserted ids to new buckets

  Synopsis
    EVALSHA <sha> 1 <root> <fingerprint> <n> <id> <sigs> [<id> <sigs> ...]
            <g> <code> <m> <id> [<id> ...] [<code> <m> <id> [<id> ...] ...]
    EVALSHA <sha> 1 <root> <fingerprint> <n> <id> <sigs> [<id> <sigs> ...] *

  Atomic per call: every id in the call is indexed in all its bands, or (on any
  error) nothing is written: the arguments, the configuration and the type of every
  key the call writes are checked before its first write. An id inserted again with the same signatures changes
  nothing; with other signatures it leaves its old buckets and joins the new ones.

  KEYS[1]  root: the index's hash-tagged key prefix, e.g. "{lsh}:". Keys written:
           <root>b<code>   SET of ids: one bucket. code = band number as 2 bytes
                           big-endian, then the band's signature (sig_bytes bytes).
           <root>r<chunk>  HASH id -> sigs: the reverse index, chunk = floor(id/128)
                           in decimal, so each hash stays small (listpack-encoded).
           <root>cfg       HASH: its "count" field counts indexed ids.

  ARGV[1]  fingerprint: must equal the stored one (see init).
  ARGV[2]  n: number of (id, sigs) pairs that follow. Ids must be distinct, and
           n * num_bands at most 16,384 (or n = 1): the call's memberships.
  ARGV[3..2+2n]  id: decimal integer in [0, 2^53), no sign or leading zeros.
           sigs: the id's band signatures, num_bands * sig_bytes bytes, band 0 first.
  then     either g: number of bucket groups, each: <code> <m> and m ids (m >= 1).
           The groups must list exactly the n * num_bands memberships the pairs
           imply, each once (a client groups them by bucket so one SADD serves many
           ids; a code may head more than one group);
           or the single argument "*": every id joins, in every band, the bucket
           its sigs name (one SADD per membership, keys derived from the sigs).
           Grouping pays when the call's ids share buckets (small rows_per_band);
           otherwise "*" saves three arguments per membership.

  An id whose reverse entry is malformed (not num_bands * sig_bytes bytes) counts as
  new: it leaves no bucket, and verify reports what the entry left behind.

  Reply    integer: how many of the ids were new to the index.
  Errors   LSHRS_NO_CONFIG <root>                    the index does not exist (run init)
           LSHRS_CONFIG_MISMATCH <stored> | <given>
           LSHRS_CLEARING <root>                     a clear of the index is under way
           LSHRS_WRONG_TYPE <key> ...                a key to write holds another type
           LSHRS_BAD_CONFIG <what>                   cfg holds a malformed field
           LSHRS_BAD_ARGUMENT <what>
           (on any error nothing is written)
]]
--- @include "prelude"
local root = root_arg(KEYS)
local cfg_key = root .. 'cfg'
local UNPACK_STEP = 4000

-- Validate everything before the first write.
arity(ARGV, 3, nil, '<fingerprint> <n> <id> <sigs> ... followed by groups or "*"')
local cfg, code, detail = config(root, ARGV[1], {'num_bands', 'sig_bytes'}, true)
if code then return refuse(code, detail) end
if not cfg then return refuse('NO_CONFIG', shown(root)) end
local num_bands, width = cfg[1], cfg[2]
local sigs_len = num_bands * width

local n = tonumber(ARGV[2])
if n == nil or n < 0 or n % 1 ~= 0 or #ARGV < 3 + 2 * n then
  bad('n must count the id/sigs pairs that follow')
end
if n > 1 and n * num_bands > MAX_MEMBERSHIPS then
  bad('at most ' .. MAX_MEMBERSHIPS .. ' memberships (ids x ' .. num_bands
    .. ' bands) per call, got ' .. n .. ' ids')
end
local band_key = band_prefixes(root, num_bands)
-- The bucket key of id k's band b.
local function bucket_of(sigs, b)
  local first = b * width + 1
  return band_key[b] .. string.sub(sigs, first, first + width - 1)
end

local chunk_of, seen = {}, {}
for i = 1, n do
  local text = ARGV[1 + 2 * i]
  local id = canonical_id(text)
  if id == nil then bad('id ' .. shown(text)) end
  if seen[text] then bad('id ' .. text .. ' is given twice') end
  seen[text] = true
  if #ARGV[2 + 2 * i] ~= sigs_len then
    bad('sigs of id ' .. text .. ' must be ' .. sigs_len .. ' bytes')
  end
  chunk_of[i] = math.floor(id / CHUNK)
end

-- Bucket keys this call adds to, each type-checked once.
local checked = {}
local function check_bucket(key)
  if not checked[key] then
    check_type(key, 'set')
    checked[key] = true
  end
end

local groups_at = 3 + 2 * n
local from_sigs = ARGV[groups_at] == '*'
local g = 0
if from_sigs then
  if #ARGV ~= groups_at then bad('nothing may follow "*"') end
  for k = 1, n do
    local sigs = ARGV[2 + 2 * k]
    for b = 0, num_bands - 1 do check_bucket(bucket_of(sigs, b)) end
  end
else
  g = tonumber(ARGV[groups_at])
  if g == nil or g < 0 or g % 1 ~= 0 then bad('group count ' .. shown(ARGV[groups_at])) end
  -- Each membership the pairs imply, keyed by bucket key .. id (the key has a fixed
  -- length, so the pair is unambiguous); a group member must take one of them.
  local wanted = {}
  for k = 1, n do
    local id, sigs = ARGV[1 + 2 * k], ARGV[2 + 2 * k]
    for b = 0, num_bands - 1 do wanted[bucket_of(sigs, b) .. id] = true end
  end
  local pos, members = groups_at + 1, 0
  for _ = 1, g do
    local m = tonumber(ARGV[pos + 1])
    if #ARGV[pos] ~= 2 + width or m == nil or m < 1 or m % 1 ~= 0 or pos + 1 + m > #ARGV then
      bad('bucket group at argument ' .. pos)
    end
    local key = root .. 'b' .. ARGV[pos]
    for i = pos + 2, pos + 1 + m do
      local membership = key .. ARGV[i]
      if not wanted[membership] then
        bad('member ' .. shown(ARGV[i]) .. ' of the bucket group at argument ' .. pos
          .. ' is not a membership its id/sigs pair implies, or is given twice')
      end
      wanted[membership] = false
    end
    check_bucket(key)
    members = members + m
    pos = pos + 2 + m
  end
  if members ~= n * num_bands or pos ~= #ARGV + 1 then
    bad('groups must hold exactly n * num_bands memberships')
  end
end

-- Old reverse entries, one HMGET per run of ids sharing a chunk; the buckets of
-- bands whose signature changed are left below.
local olds, rkeys = {}, {}
local i = 1
while i <= n do
  local j = i
  while j < n and chunk_of[j + 1] == chunk_of[i] do j = j + 1 end
  local rkey = root .. 'r' .. string.format('%d', chunk_of[i])
  local fields = {}
  for k = i, j do fields[#fields + 1] = ARGV[1 + 2 * k] end
  local found = read('HMGET', rkey, unpack(fields))
  rkeys[#rkeys + 1] = {i, j, rkey}
  for k = i, j do
    local old = found[k - i + 1]
    if old and #old == sigs_len and old ~= ARGV[2 + 2 * k] then
      for b = 0, num_bands - 1 do
        local key = bucket_of(old, b)
        if key ~= bucket_of(ARGV[2 + 2 * k], b) then check_type(key, 'set') end
      end
    end
    olds[k] = old and #old == sigs_len and old or nil
  end
  i = j + 1
end

-- Writes: the reverse index, leaving the buckets that changed.
local added = 0
for _, run in ipairs(rkeys) do
  local writes = {}
  for k = run[1], run[2] do
    local id, sigs, old = ARGV[1 + 2 * k], ARGV[2 + 2 * k], olds[k]
    if not old then
      added = added + 1
      writes[#writes + 1] = id
      writes[#writes + 1] = sigs
    elseif old ~= sigs then
      for b = 0, num_bands - 1 do
        local old_key = bucket_of(old, b)
        if old_key ~= bucket_of(sigs, b) then rcall('SREM', old_key, id) end
      end
      writes[#writes + 1] = id
      writes[#writes + 1] = sigs
    end
  end
  if #writes > 0 then rcall('HSET', run[3], unpack(writes)) end
end

-- Buckets: one SADD per membership from the sigs, or one variadic SADD per group
-- (sliced: Lua's unpack has a stack limit).
if from_sigs then
  for k = 1, n do
    local id, sigs = ARGV[1 + 2 * k], ARGV[2 + 2 * k]
    for b = 0, num_bands - 1 do rcall('SADD', bucket_of(sigs, b), id) end
  end
end
local pos = groups_at + 1
for _ = 1, g do
  local key = root .. 'b' .. ARGV[pos]
  local last = pos + 1 + tonumber(ARGV[pos + 1])
  local first = pos + 2
  while first <= last do
    local stop = math.min(first + UNPACK_STEP - 1, last)
    rcall('SADD', key, unpack(ARGV, first, stop))
    first = stop + 1
  end
  pos = last + 1
end

if added > 0 then rcall('HINCRBY', cfg_key, 'count', added) end
return added
