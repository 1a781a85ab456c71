--[[
  delete: remove ids from the index in O(bands) each, through the reverse index

  Synopsis
    EVALSHA <sha> 1 <root> <id> [<id> ...]

  Atomic per call. For each id the script reads its reverse entry, removes the id
  from the one bucket per band named there (Redis drops a set when it empties), and
  removes the entry. It also releases the id's semantic ID, if it has one (see
  semantic_id). Ids that are not indexed are skipped.

  KEYS[1]  root: the index's hash-tagged key prefix, e.g. "{lsh}:". Keys touched:
           <root>r<chunk>, <root>b<code>, <root>cfg (see insert), <root>s<chunk>
           and <root>sn (see semantic_id).
  ARGV[1..] ids: decimal integers in [0, 2^53), no sign or leading zeros, each once;
           their number times num_bands at most 16,384 (or a single id).

  The ids, the configuration and the type of every key the call writes are checked
  before its first write. An id whose reverse entry is malformed (not num_bands *
  sig_bytes bytes) only loses the entry.

  Reply    integer: how many ids were removed.
  Errors   LSHRS_CLEARING <root>        a clear of the index is under way
           LSHRS_WRONG_TYPE <key> ...   a key to write holds another type
           LSHRS_BAD_CONFIG <what>      cfg holds a malformed field
           LSHRS_BAD_ARGUMENT <what>
           (on any error nothing is written)
  Flags    allow-oom
           (a Redis Functions flag: runs out of memory, so deletes can free memory)
]]
--- @include "prelude"
local root = root_arg(KEYS)
local cfg_key = root .. 'cfg'

-- Validate everything before the first write.
local chunk_of = {}
for i, id in ipairs(id_args(ARGV, 1)) do
  chunk_of[i] = string.format('%d', math.floor(id / CHUNK))
end

local cfg, code, detail = config(root, nil, {'num_bands', 'sig_bytes'}, true)
if code then return refuse(code, detail) end
if not cfg then return 0 end
local num_bands, width = cfg[1], cfg[2]
local sigs_len = num_bands * width
if #ARGV > 1 and #ARGV * num_bands > MAX_MEMBERSHIPS then
  bad('at most ' .. MAX_MEMBERSHIPS .. ' memberships (ids x ' .. num_bands
    .. ' bands) per call, got ' .. #ARGV .. ' ids')
end
local band_key = band_prefixes(root, num_bands)

-- Each id's entry (nil when absent), its name, and the types of what it will touch.
local entries, names = {}, {}
local names_key = root .. 'sn'
for i = 1, #ARGV do
  local sigs = read('HGET', root .. 'r' .. chunk_of[i], ARGV[i])
  if sigs then
    entries[i] = sigs
    if #sigs == sigs_len then
      for b = 0, num_bands - 1 do
        local first = b * width + 1
        check_type(band_key[b] .. string.sub(sigs, first, first + width - 1), 'set')
      end
    end
    names[i] = read('HGET', root .. 's' .. chunk_of[i], ARGV[i])
    if names[i] then check_type(names_key, 'hash') end
  end
end

local removed = 0
for i = 1, #ARGV do
  local id, sigs = ARGV[i], entries[i]
  if sigs then
    if #sigs == sigs_len then
      for b = 0, num_bands - 1 do
        local first = b * width + 1
        rcall('SREM', band_key[b] .. string.sub(sigs, first, first + width - 1), id)
      end
    end
    rcall('HDEL', root .. 'r' .. chunk_of[i], id)
    if names[i] then
      rcall('HDEL', names_key, names[i])
      rcall('HDEL', root .. 's' .. chunk_of[i], id)
    end
    removed = removed + 1
  end
end

if removed > 0 then rcall('HINCRBY', cfg_key, 'count', -removed) end
return removed
