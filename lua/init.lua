--[[
  init: create an index's configuration, or check that it matches an existing one

  Synopsis
    EVALSHA <sha> 1 <root> <fingerprint> <model> [<field> <value> ...]

  Every lshrs client runs this once when it attaches to an index. The first one
  creates the index; later ones must present the same fingerprint, so two clients
  can never write signatures of different configurations into one index.

  KEYS[1]  root: the index's hash-tagged key prefix, e.g. "{lsh}:". The script
           writes <root>cfg (HASH) and <root>model (STRING), both in root's slot.

  ARGV[1]  fingerprint: a string naming the configuration exactly, e.g.
           "lshrs/1 hyperplane dim=384 bands=16 rows=12 seed=42".
  ARGV[2]  model: the bytes a client needs to compute signatures (for hyperplanes:
           the float32 little-endian plane matrix, row-major, bits x dim). May be
           empty, then <root>model is not written.
  ARGV[3..] field/value pairs stored in <root>cfg. A bucket index must include
           num_bands and sig_bytes (bytes per band signature), which insert, delete
           and query read; an IVF-PQ index (scheme "ivfpq") nlist and record_bytes,
           which the ivf_* scripts read.

  Reply    integer 1 when the index was created, 0 when it existed with this
           fingerprint (nothing is written then).
  Errors   LSHRS_CONFIG_MISMATCH <stored fingerprint> | <given fingerprint>
           LSHRS_BAD_ARGUMENT <what>        (nothing is written)
]]
--- @include "prelude"
local root = KEYS[1]
local cfg_key = root .. 'cfg'
local fingerprint = ARGV[1]

local existing, mismatch = checked_config(root, fingerprint, {})
if mismatch then return refuse('CONFIG_MISMATCH', mismatch) end
if existing then return 0 end

if #ARGV % 2 ~= 0 then
  return refuse('BAD_ARGUMENT', 'field/value pairs are unbalanced')
end
local fields = {'fingerprint', fingerprint, 'count', '0'}
local given = {}
for i = 3, #ARGV, 2 do
  given[ARGV[i]] = ARGV[i + 1]
  fields[#fields + 1] = ARGV[i]
  fields[#fields + 1] = ARGV[i + 1]
end
local function number(name) return tonumber(given[name]) ~= nil end
if given['scheme'] == 'ivfpq' then
  if not (number('nlist') and number('record_bytes')) then
    return refuse('BAD_ARGUMENT', 'nlist and record_bytes are required')
  end
elseif not (number('num_bands') and number('sig_bytes')) then
  return refuse('BAD_ARGUMENT', 'num_bands and sig_bytes are required')
end

rcall('HSET', cfg_key, unpack(fields))
if #ARGV[2] > 0 then
  rcall('SET', root .. 'model', ARGV[2])
end
return 1
