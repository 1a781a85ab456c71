--[[
  ivf_scan: the live records of several inverted lists, in one call

  Synopsis
    EVALSHA <sha> 1 <root> <fingerprint> <list> [<list> ...]

  Returns each given list's live records as one binary string, in the order the
  lists are given; the client scores the codes itself (lshrs: a lookup table per
  query in numpy). Read-only: also runs as EVALSHA_RO on Redis 7 and on replicas.
  Its work is one HMGET and one GETRANGE per list: memory copies of the bytes
  returned.

  KEYS[1]  root: the index's hash-tagged key prefix. Keys read: <root>cfg, <root>n
           and <root>l<list> for each list (see ivf_insert).
  ARGV[1]  fingerprint: must equal the stored one (see init).
  ARGV[2..] lists: decimal list numbers in [0, nlist), at most 4,096 of them.

  Reply    array of bulk strings, one per given list: its records (record_bytes
           each: int64-le id, then the code), empty for an empty list. An empty
           array when the index does not exist.
  Errors   LSHRS_CONFIG_MISMATCH <stored> | <given>
           LSHRS_BAD_ARGUMENT <what>
  Flags    no-writes
           (a Redis Functions flag: called with FCALL_RO, runs on replicas)
]]
--- @include "prelude"
--- @include "lists"
local root = root_arg(KEYS)
local cfg = attached(root, ARGV[1], {'nlist', 'record_bytes'})
if not cfg then return {} end
local nlist, size = cfg[1], cfg[2]
list_args(2, nlist, 4096)
if #ARGV < 2 then return {} end
local names = {unpack(ARGV, 2)}
local counts = rcall('HMGET', root .. 'n', unpack(names))
local reply = {}
for i, name in ipairs(names) do
  local live = tonumber(counts[i]) or 0
  if live > 0 then
    reply[i] = rcall('GETRANGE', root .. 'l' .. name, 0, live * size - 1)
  else
    reply[i] = ''
  end
end
return reply
