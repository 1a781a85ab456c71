--[[
  gather: the members of several buckets, read within a bound, for counting by the client

  Synopsis
    EVALSHA <sha> 1 <root> <fingerprint> <code> [<code> ...]

  Reads the given buckets in order and returns their members as one string; the
  client counts collisions itself (lshrs does it in numpy). This is what lshrs'
  Python client queries with: counting in Lua costs Redis about 1 microsecond per
  membership read, and returning members one by one about half of that, while
  table.concat joins them in C. Redis is the shared resource; clients scale out.
  query.lua does the same search with the counting inside Redis, for clients that
  cannot count. Read-only: also runs as EVALSHA_RO on Redis 7 and on replicas.

  Bounded work: one call spends at most 16,384 units: 16 per bucket, plus one per
  member of a bucket read whole, plus two per member of a cut one. It stops before a
  bucket that would take it past that (the first bucket is always read) and says how
  many codes it read; the client calls again with the codes that follow. A bucket of
  more than 8,192 members is cut to the first 8,192 SSCAN gives from cursor 0, so one
  server state always gives the same members. Cut buckets are reported.

  KEYS[1]  root: the index's hash-tagged key prefix, e.g. "{lsh}:". Keys read:
           <root>cfg and <root>b<code> for each code read.
  ARGV[1]  fingerprint: must equal the stored one (see init).
  ARGV[2..] codes: bucket codes (2-byte big-endian band number, then the band
           signature), each once, at most 8,192. An id sits in one bucket per band,
           so counting an id's appearances over the replies gives the bands it
           collides in.

  Reply    array of three:
           1. bulk string: the member ids of every bucket read, decimal, separated
              by single spaces, bucket after bucket (within a bucket in no
              particular order). An id appears once per bucket read that holds it.
           2. integer: how many of the given codes were read (the first ones); less
              than given when the call reached its bound.
           3. array of integers: the positions (1-based, among the given codes) of
              the buckets that were cut.
           An index that does not exist yet answers "", the number of codes, [].
  Errors   LSHRS_CONFIG_MISMATCH <stored> | <given>
           LSHRS_WRONG_TYPE <key> ...   a given bucket holds another type than a set
           LSHRS_BAD_ARGUMENT <what>
  Flags    no-writes
           (a Redis Functions flag: called with FCALL_RO, runs on replicas)
]]
--- @include "prelude"
--- @include "buckets"
local root = root_arg(KEYS)

local cfg, code, detail = config(root, ARGV[1] or '', {}, false)
if code then return refuse(code, detail) end
if #ARGV - 1 > MAX_CODES then
  return refuse('BAD_ARGUMENT', 'at most ' .. MAX_CODES .. ' codes per call, got ' .. (#ARGV - 1))
end
if not cfg then return {'', #ARGV - 1, {}} end

local buckets, codes_read, cut = bounded_read(root, 2)
for i, members in ipairs(buckets) do buckets[i] = table.concat(members, ' ') end
return {table.concat(buckets, ' '), codes_read, cut}
