--[[
  ivf_compact: shrink inverted lists to their live records

  Synopsis
    EVALSHA <sha> 1 <root> <fingerprint> <list> [<list> ...]

  Redis grows a string greedily when it is appended to (up to twice its length),
  so after a batch load the lists hold spare capacity. This rewrites each given
  list as a new string of exactly its live records. Atomic per call; lshrs calls
  it for the lists a write touched, at the end of the write, about 1 MB of records
  per call. Answers and reverse entries are unchanged. A list of more than
  2,097,152 live bytes is left as it is: one copy of it would hold Redis too long,
  and Redis grows a string that long by at most 1 MB at a time, so its spare
  capacity is small.

  KEYS[1]  root: the index's hash-tagged key prefix (keys: see ivf_insert).
  ARGV[1]  fingerprint: must equal the stored one (see init).
  ARGV[2..] lists: decimal list numbers in [0, nlist), at most 4,096 of them, whose
           live records add up to at most 2,097,152 bytes (lists left as they are
           not counted).

  Reply    integer: the bytes of live records rewritten (lists left as they are
           count nothing). 0 when the index does not exist.
  Errors   LSHRS_CONFIG_MISMATCH <stored> | <given>
           LSHRS_CLEARING <root>          a clear of the index is under way
           LSHRS_WRONG_TYPE <key> ...     a list or <root>n holds another type
           LSHRS_BAD_CONFIG <what>        cfg holds a malformed field
           LSHRS_BAD_ARGUMENT <what>
           (on any error nothing is written)
  Flags    allow-oom
           (a Redis Functions flag: runs out of memory; compacting frees memory)
]]
--- @include "prelude"
--- @include "lists"
local root = root_arg(KEYS)
arity(ARGV, 1, nil, '<fingerprint> [<list> ...]')
local cfg = attached(root, ARGV[1], {'nlist', 'record_bytes'}, true)
if not cfg then return 0 end
local nlist, size = cfg[1], cfg[2]
local lists = list_args(2, nlist, 4096)
check_type(root .. 'n', 'hash')
for _, list in ipairs(lists) do check_type(list_key(root, list), 'string') end
local sizes, total = {}, 0
for i, list in ipairs(lists) do
  sizes[i] = live_count(root, list) * size
  if sizes[i] <= COPY_LIMIT then total = total + sizes[i] end
end
if total > COPY_LIMIT then
  bad('the lists hold ' .. total .. ' live bytes, more than ' .. COPY_LIMIT .. ' per call')
end
local rewritten = 0
for i, list in ipairs(lists) do
  local live = sizes[i]
  if live > 0 and live <= COPY_LIMIT then
    local key = list_key(root, list)
    rcall('SET', key, rcall('GETRANGE', key, 0, live - 1))
    rewritten = rewritten + live
  end
end
return rewritten
