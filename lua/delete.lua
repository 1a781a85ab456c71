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
  ARGV[1..] ids: decimal integers in [0, 2^53), no sign or leading zeros; their
           number times num_bands at most 16,384 (or a single id).

  Reply    integer: how many ids were removed.
  Errors   LSHRS_BAD_ARGUMENT <what>   (nothing is written)
]]
--- @include "prelude"
local root = KEYS[1]
local cfg_key = root .. 'cfg'
local MAX_MEMBERSHIPS = 16384

local chunk_of = {}
for i = 1, #ARGV do
  local id = canonical_id(ARGV[i])
  if id == nil then return refuse('BAD_ARGUMENT', 'id ' .. ARGV[i]) end
  chunk_of[i] = string.format('%d', math.floor(id / CHUNK))
end

local cfg = rcall('HMGET', cfg_key, 'num_bands', 'sig_bytes')
if not cfg[1] then return 0 end
local num_bands = tonumber(cfg[1])
local width = tonumber(cfg[2])
if #ARGV > 1 and #ARGV * num_bands > MAX_MEMBERSHIPS then
  return refuse('BAD_ARGUMENT', 'at most ' .. MAX_MEMBERSHIPS .. ' memberships (ids x '
    .. num_bands .. ' bands) per call, got ' .. #ARGV .. ' ids')
end

local removed = 0
for i = 1, #ARGV do
  local id = ARGV[i]
  local rkey = root .. 'r' .. chunk_of[i]
  local sigs = rcall('HGET', rkey, id)
  if sigs then
    for b = 0, num_bands - 1 do
      local first = b * width + 1
      rcall('SREM', root .. 'b' .. string.char(math.floor(b / 256), b % 256)
        .. string.sub(sigs, first, first + width - 1), id)
    end
    rcall('HDEL', rkey, id)
    local skey = root .. 's' .. chunk_of[i]
    local name = rcall('HGET', skey, id)
    if name then
      rcall('HDEL', root .. 'sn', name)
      rcall('HDEL', skey, id)
    end
    removed = removed + 1
  end
end

if removed > 0 then rcall('HINCRBY', cfg_key, 'count', -removed) end
return removed
