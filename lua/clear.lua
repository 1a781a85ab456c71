--[[
  clear: delete one batch of an index's keys

  Synopsis
    EVALSHA <sha> 1 <root> <cursor> <count>

  Runs one SCAN step over the keys matching <root>* and UNLINKs them. Call it again
  with the returned cursor until that is "0". Bounded work per call, so a large
  index is cleared without blocking the server for long. Only keys that begin with
  root are touched; glob characters in root are escaped.

  KEYS[1]  root: the index's hash-tagged key prefix, e.g. "{lsh}:".
  ARGV[1]  cursor: "0" to start, then the cursor the previous call returned.
  ARGV[2]  count: the SCAN COUNT hint (keys examined per call), e.g. 1000.

  Reply    array of two: the next cursor (bulk string, "0" when done) and how many
           keys this call deleted (integer).
  Flags    allow-oom
           (a Redis Functions flag: runs out of memory, so clearing can free memory)
]]
if redis.replicate_commands then redis.replicate_commands() end
local rcall = redis.call
local pattern = string.gsub(KEYS[1], '[%*%?%[%]\\]', '\\%0') .. '*'
local reply = rcall('SCAN', ARGV[1], 'MATCH', pattern, 'COUNT', ARGV[2])
local keys = reply[2]
for first = 1, #keys, 1000 do
  rcall('UNLINK', unpack(keys, first, math.min(first + 999, #keys)))
end
return {reply[1], #keys}
