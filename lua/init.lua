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
  ARGV[3..] field/value pairs stored in <root>cfg, each field once. A bucket index
           must include num_bands (in [1, 65536]) and sig_bytes (bytes per band
           signature, >= 1), which insert, delete and query read; an IVF-PQ index
           (scheme "ivfpq") nlist (in [1, 2^32]) and record_bytes (>= 9), which the
           ivf_* scripts read. The fields the scripts keep themselves, fingerprint,
           count and clearing, cannot be given.

  When the index exists with this fingerprint, each given field must equal the
  stored one, except the query settings (nprobe, beam, extra_probes,
  rerank_candidates), which clients may choose per call, and the self-check
  (check_vector, check_codes), which clients compute and compare themselves. So a
  configuration edited behind its fingerprint's back is refused, not used.

  Reply    integer 1 when the index was created, 0 when it existed with this
           fingerprint (nothing is written then).
  Errors   LSHRS_CONFIG_MISMATCH <stored fingerprint> | <given fingerprint>
           LSHRS_CONFIG_MISMATCH <stored fingerprint> <field>=<stored value> |
                                 <given fingerprint> <field>=<given value>
           LSHRS_CLEARING <root>            a clear of the index is under way
           LSHRS_WRONG_TYPE <key> ...       cfg or model holds another type
           LSHRS_BAD_ARGUMENT <what>        (nothing is written)
]]
--- @include "prelude"
local root = root_arg(KEYS)
local cfg_key = root .. 'cfg'
local fingerprint = ARGV[1]
local RESERVED = {fingerprint = true, count = true, clearing = true}
local UNCHECKED = {nprobe = true, beam = true, extra_probes = true, rerank_candidates = true,
  check_vector = true, check_codes = true}

arity(ARGV, 2, nil, '<fingerprint> <model> [<field> <value> ...]')
if fingerprint == '' then bad('the fingerprint is missing') end
if #ARGV % 2 ~= 0 then bad('field/value pairs are unbalanced') end
local fields = {'fingerprint', fingerprint, 'count', '0'}
local given, names = {}, {}
for i = 3, #ARGV, 2 do
  local name = ARGV[i]
  if RESERVED[name] then bad('field ' .. name .. ' is kept by the scripts and cannot be given') end
  if given[name] then bad('field ' .. shown(name) .. ' is given twice') end
  given[name] = ARGV[i + 1]
  names[#names + 1] = name
  fields[#fields + 1] = name
  fields[#fields + 1] = ARGV[i + 1]
end
local required = {'num_bands', 'sig_bytes'}
if given['scheme'] == 'ivfpq' then required = {'nlist', 'record_bytes'} end
for _, name in ipairs(required) do
  local range = LAYOUT[name]
  if not int_in(given[name], range[1], range[2]) then
    bad(name .. ' must be an integer in [' .. range[1] .. ', ' .. range[2] .. '], got '
      .. shown(given[name]))
  end
end

local stored = read('HGETALL', cfg_key)
local existing = {}
for i = 1, #stored, 2 do existing[stored[i]] = stored[i + 1] end
if existing['clearing'] then return refuse('CLEARING', shown(root)) end
if existing['fingerprint'] then
  if existing['fingerprint'] ~= fingerprint then
    return refuse('CONFIG_MISMATCH', shown(existing['fingerprint']) .. ' | ' .. shown(fingerprint))
  end
  for _, name in ipairs(names) do
    if not UNCHECKED[name] and existing[name] ~= given[name]
        and (existing[name] ~= nil or LAYOUT[name]) then
      return refuse('CONFIG_MISMATCH', shown(fingerprint) .. ' ' .. shown(name) .. '='
        .. shown(existing[name]) .. ' | ' .. shown(fingerprint) .. ' ' .. shown(name) .. '='
        .. shown(given[name]))
    end
  end
  return 0
end

if #ARGV[2] > 0 then check_type(root .. 'model', 'string') end
rcall('HSET', cfg_key, unpack(fields))
if #ARGV[2] > 0 then
  rcall('SET', root .. 'model', ARGV[2])
end
return 1
