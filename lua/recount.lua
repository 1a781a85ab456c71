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
           LSHRS_CLEARING <root>                     a clear of the index is under way
           LSHRS_WRONG_TYPE <key> ...                cfg holds another type
           LSHRS_BAD_ARGUMENT <what>                 (nothing is written)
  Flags    allow-oom
           (a Redis Functions flag: runs out of memory; it rewrites one number)
]]
--- @include "prelude"
local root = root_arg(KEYS)
local cfg_key = root .. 'cfg'

arity(ARGV, 2, 2, '<seen> <actual>')
if not int_in(ARGV[2], 0, MAX_ID) then
  return refuse('BAD_ARGUMENT', 'actual must be an integer >= 0')
end
local cfg = read('HMGET', cfg_key, 'fingerprint', 'clearing', 'count')
if cfg[2] then fail('CLEARING', shown(root)) end
if not cfg[1] then return refuse('NO_CONFIG', shown(root)) end
if (cfg[3] or '') ~= ARGV[1] then return 0 end
rcall('HSET', cfg_key, 'count', ARGV[2])
return 1
