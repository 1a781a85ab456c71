--[[
  clear: delete one batch of an index's keys

  Synopsis
    EVALSHA <sha> 1 <root> <cursor> <count>

  Runs one SCAN step over the keys matching <root>* and UNLINKs them. Call it again
  with the returned cursor until that is "0". Bounded work per call, so a large
  index is cleared without blocking the server for long. Only keys that begin with
  root are touched; glob characters in root are escaped.

  The first call (cursor "0") marks the index as being cleared: it sets the field
  "clearing" of <root>cfg (creating the hash when missing). Every script that writes
  refuses a marked index with LSHRS_CLEARING, so no writer adds keys behind the scan,
  and init refuses to create it again. <root>cfg and <root>model are kept until the
  scan is done and unlinked together by the last call, so an index never has a
  configuration without its model. A later call finds the mark gone when another
  clear of the index finished first (and a writer may have created the index again):
  it then stops, answering cursor "0", so it never deletes a newer index's keys.

  KEYS[1]  root: the index's hash-tagged key prefix, e.g. "{lsh}:".
  ARGV[1]  cursor: "0" to start, then the cursor the previous call returned.
  ARGV[2]  count: the SCAN COUNT hint (keys examined per call), e.g. 1000.

  Reply    array of two: the next cursor (bulk string, "0" when done) and how many
           keys this call deleted (integer).
  Errors   LSHRS_BAD_ARGUMENT <what>
  Flags    allow-oom
           (a Redis Functions flag: runs out of memory, so clearing can free memory)
]]
--- @include "prelude"
if redis.replicate_commands then redis.replicate_commands() end
local root = root_arg(KEYS)
local cfg_key, model_key = root .. 'cfg', root .. 'model'

arity(ARGV, 2, 2, '<cursor> <count>')
if not int_in(ARGV[1], 0, math.huge) then bad('cursor ' .. shown(ARGV[1])) end
if not int_in(ARGV[2], 1, math.huge) then bad('count must be a positive integer') end
local deleted = 0
if ARGV[1] == '0' then
  local kind = rcall('TYPE', cfg_key).ok
  if kind ~= 'hash' and kind ~= 'none' then deleted = rcall('UNLINK', cfg_key) end
  -- "1" when the index had a configuration, "0" when the mark alone makes the hash.
  rcall('HSETNX', cfg_key, 'clearing', kind == 'hash' and '1' or '0')
elseif rcall('TYPE', cfg_key).ok ~= 'hash' or rcall('HEXISTS', cfg_key, 'clearing') == 0 then
  return {'0', 0}
end

local pattern = string.gsub(root, '[%*%?%[%]\\]', '\\%0') .. '*'
local reply = rcall('SCAN', ARGV[1], 'MATCH', pattern, 'COUNT', ARGV[2])
local keys = {}
for _, key in ipairs(reply[2]) do
  if key ~= cfg_key and key ~= model_key then keys[#keys + 1] = key end
end
for first = 1, #keys, 1000 do
  rcall('UNLINK', unpack(keys, first, math.min(first + 999, #keys)))
end
deleted = deleted + #keys
if reply[1] == '0' then
  local own = rcall('HGET', cfg_key, 'clearing') == '0'
  deleted = deleted + rcall('UNLINK', cfg_key, model_key) - (own and 1 or 0)
end
return {reply[1], deleted}
