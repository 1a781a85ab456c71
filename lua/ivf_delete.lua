--[[
  ivf_delete: remove ids from an IVF-PQ index in O(1) each

  Synopsis
    EVALSHA <sha> 1 <root> <fingerprint> <id> [<id> ...]

  Atomic per call. For each id the script reads its reverse entry (list, slot),
  moves the list's last record into that slot (updating the moved id's entry),
  shortens the list by one record and removes the entry. Ids that are not indexed
  are skipped. The ids (each at most once), the configuration and the type of every
  key the call writes are checked before its first write.

  KEYS[1]  root: the index's hash-tagged key prefix. Keys touched: <root>l<list>,
           <root>n, <root>r<chunk> and <root>cfg (see ivf_insert).
  ARGV[1]  fingerprint: must equal the stored one (see init).
  ARGV[2..] ids: decimal integers in [0, 2^53), no sign or leading zeros, each
           once; at most 4,096.

  Reply    integer: how many ids were removed. 0 when the index does not exist.
  Errors   LSHRS_CONFIG_MISMATCH <stored> | <given>
           LSHRS_CLEARING <root>          a clear of the index is under way
           LSHRS_WRONG_TYPE <key> ...     a key to write holds another type
           LSHRS_BAD_CONFIG <what>        cfg holds a malformed field
           LSHRS_BAD_ARGUMENT <what>
           (on any error nothing is written)
  Flags    allow-oom
           (a Redis Functions flag: runs out of memory, so deletes can free memory)
]]
--- @include "prelude"
--- @include "lists"
local root = root_arg(KEYS)
arity(ARGV, 1, nil, '<fingerprint> [<id> ...]')
if #ARGV - 1 > MAX_RECORDS then
  bad('at most ' .. MAX_RECORDS .. ' ids per call, got ' .. (#ARGV - 1))
end
local ids = id_args(ARGV, 2)
local cfg = attached(root, ARGV[1], {'record_bytes'}, true)
if not cfg then return 0 end
local size = cfg[1]
local removals = {}
for _, id in ipairs(ids) do
  local list = entry_of(root, id)
  if list then removals[list] = (removals[list] or 0) + 1 end
end
check_removals(root, size, removals)

local removed = 0
for _, id in ipairs(ids) do
  local list, slot = entry_of(root, id)
  if list then
    remove_record(root, size, list, slot)
    rcall('HDEL', reverse_key(root, id), string.format('%d', id))
    removed = removed + 1
  end
end
if removed > 0 then rcall('HINCRBY', root .. 'cfg', 'count', -removed) end
return removed
