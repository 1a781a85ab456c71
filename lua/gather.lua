--[[
  gather: the members of several buckets in one call, for counting by the client

  Synopsis
    EVALSHA <sha> 1 <root> <fingerprint> <code> [<code> ...]

  Reads the given buckets and returns all their members as one string; the client
  counts collisions itself (lshrs does it in numpy). This is what lshrs' Python
  client queries with: counting in Lua costs Redis about 1 microsecond per
  membership read, and returning members one by one about half of that, while
  table.concat joins them in C. Redis is the shared resource; clients scale out.
  query.lua does the same search with the counting inside Redis, for clients that
  cannot count. Read-only: also runs as EVALSHA_RO on Redis 7 and on replicas.

  KEYS[1]  root: the index's hash-tagged key prefix, e.g. "{lsh}:". Keys read:
           <root>cfg and <root>b<code> for each code.
  ARGV[1]  fingerprint: must equal the stored one (see init).
  ARGV[2..] codes: bucket codes (2-byte big-endian band number, then the band
           signature), each once. An id sits in one bucket per band, so counting
           an id's appearances over the reply gives the bands it collides in.

  Reply    bulk string: the member ids of every given bucket, decimal, separated
           by single spaces, bucket after bucket (within a bucket in no particular
           order). An id appears once per given bucket that holds it. Empty when
           the buckets are empty or missing, or the index does not exist yet.
  Errors   LSHRS_CONFIG_MISMATCH <stored> | <given>
           LSHRS_WRONG_TYPE <key> ...   a given bucket holds another type than a set
           LSHRS_BAD_ARGUMENT <what>
  Flags    no-writes
           (a Redis Functions flag: called with FCALL_RO, runs on replicas)
]]
--- @include "prelude"
local root = root_arg(KEYS)

local cfg, code, detail = config(root, ARGV[1] or '', {}, false)
if code then return refuse(code, detail) end
if not cfg then return '' end

local parts, n = {}, 0
local prefix = root .. 'b'
for i = 2, #ARGV do
  local members = read('SMEMBERS', prefix .. ARGV[i])
  if #members > 0 then
    n = n + 1
    parts[n] = table.concat(members, ' ')
  end
end
return table.concat(parts, ' ')
