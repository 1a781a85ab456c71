--[[
  insert: add ids to their buckets, or move re-inserted ids to new buckets

  Synopsis
    EVALSHA <sha> 1 <root> <fingerprint> <n> <id> <sigs> [<id> <sigs> ...]
            <g> <code> <m> <id> [<id> ...] [<code> <m> <id> [<id> ...] ...]
    EVALSHA <sha> 1 <root> <fingerprint> <n> <id> <sigs> [<id> <sigs> ...] *

  Atomic per call: every id in the call is indexed in all its bands, or (on any
  error) nothing is written. An id inserted again with the same signatures changes
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
  then     either g: number of bucket groups, each: <code> <m> and m ids. The groups
           must list exactly the n * num_bands memberships the pairs imply (a client
           groups them by bucket so one SADD serves many ids);
           or the single argument "*": every id joins, in every band, the bucket
           its sigs name (one SADD per membership, keys derived from the sigs).
           Grouping pays when the call's ids share buckets (small rows_per_band);
           otherwise "*" saves three arguments per membership.

  Reply    integer: how many of the ids were new to the index.
  Errors   LSHRS_NO_CONFIG <root>                    the index does not exist (run init)
           LSHRS_CONFIG_MISMATCH <stored> | <given>
           LSHRS_BAD_ARGUMENT <what>                 (nothing is written)
]]
--- @include "prelude"
local root = KEYS[1]
local cfg_key = root .. 'cfg'
local UNPACK_STEP = 4000
local MAX_MEMBERSHIPS = 16384

local cfg, mismatch = checked_config(root, ARGV[1], {'num_bands', 'sig_bytes'})
if mismatch then return refuse('CONFIG_MISMATCH', mismatch) end
if not cfg then return refuse('NO_CONFIG', root) end
local num_bands = tonumber(cfg[1])
local width = tonumber(cfg[2])
local sigs_len = num_bands * width

-- Validate everything before the first write.
local n = tonumber(ARGV[2])
if n == nil or n < 0 or n % 1 ~= 0 or #ARGV < 3 + 2 * n then
  return refuse('BAD_ARGUMENT', 'n must count the id/sigs pairs that follow')
end
if n > 1 and n * num_bands > MAX_MEMBERSHIPS then
  return refuse('BAD_ARGUMENT', 'at most ' .. MAX_MEMBERSHIPS .. ' memberships (ids x '
    .. num_bands .. ' bands) per call, got ' .. n .. ' ids')
end
local chunk_of = {}
for i = 1, n do
  local id = canonical_id(ARGV[1 + 2 * i])
  if id == nil then return refuse('BAD_ARGUMENT', 'id ' .. ARGV[1 + 2 * i]) end
  if #ARGV[2 + 2 * i] ~= sigs_len then
    return refuse('BAD_ARGUMENT',
      'sigs of id ' .. ARGV[1 + 2 * i] .. ' must be ' .. sigs_len .. ' bytes')
  end
  chunk_of[i] = math.floor(id / CHUNK)
end
local groups_at = 3 + 2 * n
local from_sigs = ARGV[groups_at] == '*'
local g = 0
if from_sigs then
  if #ARGV ~= groups_at then return refuse('BAD_ARGUMENT', 'nothing may follow "*"') end
else
  g = tonumber(ARGV[groups_at])
  if g == nil then return refuse('BAD_ARGUMENT', 'group count') end
  local pos, members = groups_at + 1, 0
  for _ = 1, g do
    local m = tonumber(ARGV[pos + 1])
    if #ARGV[pos] ~= 2 + width or m == nil or m < 1 or pos + 1 + m > #ARGV then
      return refuse('BAD_ARGUMENT', 'bucket group at argument ' .. pos)
    end
    members = members + m
    pos = pos + 2 + m
  end
  if members ~= n * num_bands or pos ~= #ARGV + 1 then
    return refuse('BAD_ARGUMENT', 'groups must hold exactly n * num_bands memberships')
  end
end

local band_key = {}
for b = 0, num_bands - 1 do
  band_key[b] = root .. 'b' .. string.char(math.floor(b / 256), b % 256)
end

-- Reverse index, one run of ids sharing a chunk at a time: read old entries, leave
-- the buckets that changed, write new entries.
local added = 0
local i = 1
while i <= n do
  local j = i
  while j < n and chunk_of[j + 1] == chunk_of[i] do j = j + 1 end
  local rkey = root .. 'r' .. string.format('%d', chunk_of[i])
  local fields = {}
  for k = i, j do fields[#fields + 1] = ARGV[1 + 2 * k] end
  local olds = rcall('HMGET', rkey, unpack(fields))
  local writes = {}
  for k = i, j do
    local id, sigs, old = ARGV[1 + 2 * k], ARGV[2 + 2 * k], olds[k - i + 1]
    if not old then
      added = added + 1
      writes[#writes + 1] = id
      writes[#writes + 1] = sigs
    elseif old ~= sigs then
      for b = 0, num_bands - 1 do
        local first = b * width + 1
        local old_sig = string.sub(old, first, first + width - 1)
        if old_sig ~= string.sub(sigs, first, first + width - 1) then
          rcall('SREM', band_key[b] .. old_sig, id)
        end
      end
      writes[#writes + 1] = id
      writes[#writes + 1] = sigs
    end
  end
  if #writes > 0 then rcall('HSET', rkey, unpack(writes)) end
  i = j + 1
end

-- Buckets: one SADD per membership from the sigs, or one variadic SADD per group
-- (sliced: Lua's unpack has a stack limit).
if from_sigs then
  for k = 1, n do
    local id, sigs = ARGV[1 + 2 * k], ARGV[2 + 2 * k]
    for b = 0, num_bands - 1 do
      local first = b * width + 1
      rcall('SADD', band_key[b] .. string.sub(sigs, first, first + width - 1), id)
    end
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
