--[[
  move: put an indexed id into another bucket of one band

  Synopsis
    EVALSHA <sha> 1 <root> <fingerprint> <id> <band> <sig>

  Atomic. The id leaves its current bucket in <band> and joins <root>b<code> with
  code = band (2 bytes big-endian) .. sig; its reverse entry is updated. Ids enter
  the index with all bands at once (insert); this only moves one band of an id that
  is already indexed.

  KEYS[1]  root: the index's hash-tagged key prefix, e.g. "{lsh}:".
  ARGV[1]  fingerprint: must equal the stored one (see init).
  ARGV[2]  id: decimal integer in [0, 2^53).
  ARGV[3]  band: band number, 0 <= band < num_bands.
  ARGV[4]  sig: the new band signature, sig_bytes bytes.

  Reply    integer 1 if the id moved, 0 if it already was in that bucket.
  Errors   LSHRS_NO_CONFIG <root>
           LSHRS_CONFIG_MISMATCH <stored> | <given>
           LSHRS_NOT_INDEXED <id>                    (also for a malformed entry)
           LSHRS_CLEARING <root>                     a clear of the index is under way
           LSHRS_WRONG_TYPE <key> ...                a key to write holds another type
           LSHRS_BAD_CONFIG <what>                   cfg holds a malformed field
           LSHRS_BAD_ARGUMENT <what>
           (on any error nothing is written)
]]
--- @include "prelude"
local root = root_arg(KEYS)

arity(ARGV, 4, 4, '<fingerprint> <id> <band> <sig>')
local cfg, code, detail = config(root, ARGV[1], {'num_bands', 'sig_bytes'}, true)
if code then return refuse(code, detail) end
if not cfg then return refuse('NO_CONFIG', shown(root)) end
local num_bands, width = cfg[1], cfg[2]
local id_text, sig = ARGV[2], ARGV[4]
local id = canonical_id(id_text)
if id == nil then bad('id ' .. shown(id_text)) end
local band = int_in(ARGV[3], 0, num_bands - 1)
if band == nil then bad('band ' .. shown(ARGV[3]) .. ' must be in [0, ' .. num_bands .. ')') end
if #sig ~= width then bad('sig must be ' .. width .. ' bytes') end

local rkey = reverse_key(root, id)
local sigs = read('HGET', rkey, id_text)
if not sigs or #sigs ~= num_bands * width then return refuse('NOT_INDEXED', id_text) end
local first = band * width + 1
local old = string.sub(sigs, first, first + width - 1)
if old == sig then return 0 end
local band_key = band_prefix(root, band)
check_type(band_key .. old, 'set')
check_type(band_key .. sig, 'set')
rcall('SREM', band_key .. old, id_text)
rcall('SADD', band_key .. sig, id_text)
rcall('HSET', rkey, id_text,
  string.sub(sigs, 1, first - 1) .. sig .. string.sub(sigs, first + width))
return 1
