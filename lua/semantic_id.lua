--[[
  semantic_id: give indexed ids collision-free semantic IDs, atomically

  Synopsis
    EVALSHA <sha> 1 <root> <fingerprint> <id> <path> [<id> <path> ...]

  Atomic per call. For each (id, path), in order: an id that already has a semantic
  ID keeps it (stable once assigned, also when the id is re-indexed with another
  vector) and the path is ignored. Otherwise the id is named <path> when that name
  was never given in this index, else <path>-<k>, where k counts the names given
  for this path before (so "12-5-33", "12-5-33-1", "12-5-33-2", ...). A name is
  never given twice: the count only grows, and a name still held is skipped. Delete
  (delete.lua) releases an id's name; a released name is not handed out again.

  KEYS[1]  root: the index's hash-tagged key prefix, e.g. "{lsh}:". Keys touched:
           <root>r<chunk>  read: only indexed ids get names (see insert).
           <root>s<chunk>  HASH id -> its semantic ID, chunk = floor(id/128).
           <root>sn        HASH semantic ID -> id (who holds a name).
           <root>sc        HASH path -> how many names were given for it.
  ARGV[1]  fingerprint: must equal the stored one (paths depend on the model).
  ARGV[2..] pairs: id (decimal integer in [0, 2^53), no sign or leading zeros) and
           path (the id's code path, e.g. "12-5-33"; non-empty). Ids distinct.

  Reply    array of bulk strings: each id's semantic ID, in argument order.
  Errors   LSHRS_NO_CONFIG <root>
           LSHRS_CONFIG_MISMATCH <stored> | <given>
           LSHRS_NOT_INDEXED <id>
           LSHRS_CLEARING <root>           a clear of the index is under way
           LSHRS_WRONG_TYPE <key> ...      a key to write holds another type
           LSHRS_BAD_CONFIG <what>         <root>sc holds a count that is not an integer
           LSHRS_BAD_ARGUMENT <what>
           (on any error nothing is written)
]]
--- @include "prelude"
local root = root_arg(KEYS)
local names_key = root .. 'sn'
local counts_key = root .. 'sc'

arity(ARGV, 1, nil, '<fingerprint> [<id> <path> ...]')
local cfg, code, detail = config(root, ARGV[1], {}, true)
if code then return refuse(code, detail) end
if not cfg then return refuse('NO_CONFIG', shown(root)) end
if #ARGV % 2 ~= 1 then
  return refuse('BAD_ARGUMENT', 'id/path pairs are unbalanced')
end

-- Validate everything before the first write.
check_type(names_key, 'hash')
local chunk_of, seen, paths = {}, {}, {}
for i = 2, #ARGV, 2 do
  local text, path = ARGV[i], ARGV[i + 1]
  local id = canonical_id(text)
  if id == nil or seen[text] then return refuse('BAD_ARGUMENT', 'id ' .. shown(text)) end
  if #path == 0 then
    return refuse('BAD_ARGUMENT', 'empty path for id ' .. text)
  end
  seen[text] = true
  chunk_of[i] = string.format('%d', math.floor(id / CHUNK))
  if read('HEXISTS', reverse_key(root, id), text) == 0 then
    return refuse('NOT_INDEXED', text)
  end
  read('HEXISTS', root .. 's' .. chunk_of[i], text)
  if not paths[path] then
    paths[path] = true
    local given = read('HGET', counts_key, path)
    if given and not int_in(given, 0, MAX_ID) then
      fail('BAD_CONFIG', 'the count of path ' .. shown(path) .. ' in ' .. shown(counts_key)
        .. ' is not an integer')
    end
  end
end

local reply = {}
for i = 2, #ARGV, 2 do
  local id, path = ARGV[i], ARGV[i + 1]
  local own_key = root .. 's' .. chunk_of[i]
  local name = rcall('HGET', own_key, id)
  if not name then
    repeat
      local given = rcall('HINCRBY', counts_key, path, 1) - 1
      name = path
      if given > 0 then name = path .. '-' .. given end
    until rcall('HSETNX', names_key, name, id) == 1
    rcall('HSET', own_key, id, name)
  end
  reply[#reply + 1] = name
end
return reply
