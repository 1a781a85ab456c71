--[[
  recount: correct an index's "count" field, unless it changed meanwhile

  Synopsis
    EVALSHA <sha> 1 <root> <seen> <actual>

  The caller (lshrs verify) counts the reverse-index entries over many verify.lua
  calls, which is exact only when no write runs meanwhile. If "count" no longer holds
  what the caller read before counting, a write certainly ran: nothing is written
  and the caller reports that the count was not repaired. Otherwise "count" is set
  to the total (which writes that added and removed as many ids as each other could
  still have made stale: repair with writers stopped).

  KEYS[1]  root: the index's hash-tagged key prefix, e.g. "{lsh}:". Key written:
           <root>cfg, field "count".
  ARGV[1]  seen: the "count" field as the caller read it before counting ("" when
           it was absent).
  ARGV[2]  actual: the number of well-formed reverse entries counted, an integer >= 0.

  Reply    integer 1 if "count" was set to <actual>, 0 if it no longer equals <seen>.
  Errors   LSHRS_NO_CONFIG <root>
           LSHRS_BAD_ARGUMENT <what>                 (nothing is written)
  Flags    allow-oom
           (a Redis Functions flag: runs out of memory; it rewrites one number)
]]
--- @include "prelude"
local cfg_key = KEYS[1] .. 'cfg'

local actual = tonumber(ARGV[2])
if actual == nil or actual < 0 or actual % 1 ~= 0 then
  return refuse('BAD_ARGUMENT', 'actual must be an integer >= 0')
end
if rcall('HEXISTS', cfg_key, 'fingerprint') == 0 then
  return refuse('NO_CONFIG', KEYS[1])
end
if (rcall('HGET', cfg_key, 'count') or '') ~= ARGV[1] then return 0 end
rcall('HSET', cfg_key, 'count', ARGV[2])
return 1
