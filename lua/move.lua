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
local rcall = redis.call
local root = KEYS[1]
local cfg_key = root .. 'cfg'

local cfg = rcall('HMGET', cfg_key, 'fingerprint', 'num_bands', 'sig_bytes')
if not cfg[1] then return redis.error_reply('LSHRS_NO_CONFIG ' .. root) end
if cfg[1] ~= ARGV[1] then
  return redis.error_reply('LSHRS_CONFIG_MISMATCH ' .. cfg[1] .. ' | ' .. ARGV[1])
end
local num_bands = tonumber(cfg[2])
local width = tonumber(cfg[3])
local id_text, band, sig = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local id = tonumber(id_text)
if id == nil or id < 0 or id >= 9007199254740992 or id % 1 ~= 0
    or string.format('%d', id) ~= id_text then
  return redis.error_reply('LSHRS_BAD_ARGUMENT id ' .. id_text)
end
if band == nil or band < 0 or band >= num_bands or band % 1 ~= 0 then
  return redis.error_reply('LSHRS_BAD_ARGUMENT band ' .. ARGV[3])
end
if #sig ~= width then
  return redis.error_reply('LSHRS_BAD_ARGUMENT sig must be ' .. width .. ' bytes')
end

local rkey = root .. 'r' .. string.format('%d', math.floor(id / 128))
local sigs = rcall('HGET', rkey, id_text)
if not sigs then return redis.error_reply('LSHRS_NOT_INDEXED ' .. id_text) end
local first = band * width + 1
local old = string.sub(sigs, first, first + width - 1)
if old == sig then return 0 end
local band_key = root .. 'b' .. string.char(math.floor(band / 256), band % 256)
rcall('SREM', band_key .. old, id_text)
rcall('SADD', band_key .. sig, id_text)
rcall('HSET', rkey, id_text,
  string.sub(sigs, 1, first - 1) .. sig .. string.sub(sigs, first + width))
return 1
