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
           LSHRS_NOT_INDEXED <id>
           LSHRS_BAD_ARGUMENT <what>
]]
--- @include "prelude"
local root = KEYS[1]

local cfg, mismatch = checked_config(root, ARGV[1], {'num_bands', 'sig_bytes'})
if mismatch then return refuse('CONFIG_MISMATCH', mismatch) end
if not cfg then return refuse('NO_CONFIG', root) end
local num_bands = tonumber(cfg[1])
local width = tonumber(cfg[2])
local id_text, band, sig = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local id = canonical_id(id_text)
if id == nil then return refuse('BAD_ARGUMENT', 'id ' .. id_text) end
if band == nil or band < 0 or band >= num_bands or band % 1 ~= 0 then
  return refuse('BAD_ARGUMENT', 'band ' .. ARGV[3])
end
if #sig ~= width then
  return refuse('BAD_ARGUMENT', 'sig must be ' .. width .. ' bytes')
end

local rkey = reverse_key(root, id)
local sigs = rcall('HGET', rkey, id_text)
if not sigs then return refuse('NOT_INDEXED', id_text) end
local first = band * width + 1
local old = string.sub(sigs, first, first + width - 1)
if old == sig then return 0 end
local band_key = root .. 'b' .. string.char(math.floor(band / 256), band % 256)
rcall('SREM', band_key .. old, id_text)
rcall('SADD', band_key .. sig, id_text)
rcall('HSET', rkey, id_text,
  string.sub(sigs, 1, first - 1) .. sig .. string.sub(sigs, first + width))
return 1
