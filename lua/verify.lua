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
  does bounded work: one TYPE per key the SCAN step returns (about <count>), and at
  most 8,192 units of checks (see includes/checks.lua: 16 per key, one per bucket
  member or reverse entry read, one per membership checked). A reverse-index hash
  or a bucket whose checks do not fit what is left of the call's units is not
  checked here but reported in reply 12; the caller finishes each such key with
  verify_part calls, which are bounded the same way. Keys of other indexes are never
  read: glob characters in root are escaped.

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

  Reply    array of twelve:
           1 the next cursor (bulk string, "0" when done);
           2 keys examined by this call (integer);
           3 per reverse-index key checked: its key suffix and its number of
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
           9 the total size of the buckets examined (with <members> = 1: of those
             checked here), after repair (integer; a bucket SCAN returns twice
             counts twice, which can only cost the caller an unneeded member pass);
          10 bucket members that are not canonical ids (array of strings);
          11 misplaced keys, see above (array of key names);
          12 keys left to verify_part: each the hex of its name after root, e.g.
             "7231" for <root>r1, "6200010a" for <root>b\x00\x01\x0a (array).
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
local check = checker(root, num_bands, width, repair)
local unknown, deferred, entries, sizes, spent = {}, {}, {}, 0, 0

-- True when a key's checks, costing `cost` units, fit what is left of this call's;
-- otherwise the key is left to verify_part and reported.
local function within(cost, key)
  if spent + cost <= CALL_UNITS then
    spent = spent + cost
    return true
  end
  deferred[#deferred + 1] = to_hex(string.sub(key, #root + 1))
  return false
end

local function check_chunk(key, chunk)
  local fields = rcall('HGETALL', key)
  local good = 0
  for i = 1, #fields, 2 do
    if check.entry(key, chunk, fields[i], fields[i + 1]) then good = good + 1 end
  end
  entries[#entries + 1] = 'r' .. chunk
  entries[#entries + 1] = good
end

local function check_bucket(key, code)
  local members = rcall('SMEMBERS', key)
  for i = 1, #members do check.member(key, code, members[i]) end
end

local pattern = string.gsub(root, '[%*%?%[%]\\]', '\\%0') .. '*'
local reply = rcall('SCAN', ARGV[1], 'MATCH', pattern, 'COUNT', count)
local keys = reply[2]
for k = 1, #keys do
  local key = keys[k]
  local kind = string.sub(key, #root + 1, #root + 1)
  local rest = string.sub(key, #root + 2)
  local key_type = rcall('TYPE', key).ok
  spent = spent + KEY_COST
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
    check.misplace(key)
  elseif kind == 'r' then
    if within(rcall('HLEN', key) * (num_bands + 1), key) then check_chunk(key, rest) end
  elseif kind == 'b' then
    if string.byte(rest, 1) * 256 + string.byte(rest, 2) >= num_bands then
      check.misplace(key)
    elseif not check_members then
      sizes = sizes + rcall('SCARD', key)
    elseif within(rcall('SCARD', key), key) then
      check_bucket(key, rest)
      sizes = sizes + rcall('SCARD', key)
    end
  end
end
return {reply[1], #keys, entries, check.without_entry, check.missing_member,
  check.stray_member, check.malformed, unknown, sizes, check.junk, check.misplaced, deferred}
