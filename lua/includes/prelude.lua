--[[
  prelude: helpers shared by every lshrs script, prepended when a script loads

  A script names it with the line
    --- @include "prelude"
  and lshrs.protocol puts this file's text in place of that line, so each check
  below is written once. Clients in other languages expand the include the same
  way (docs/lua-protocol.md, "Loading the scripts").

  Errors are raised by fail(): Redis 7 answers an error raised as a table with its
  text first (then its own suffix); Redis 6.2 only takes an error string, which it
  wraps in its own prefix. Clients find the LSHRS_<CODE> word in either. A script may instead return refuse(<CODE>, <detail>)
  from its top level: Redis hands a returned error reply to the client as it is,
  so its first word is the code (the bucket-index scripts answer this way). Raise
  or refuse only before the first write: Redis does not roll a script back. So a
  script reads and checks everything a write relies on first: its arguments, the
  configuration, and the type of every key it will write (check_type, or a read
  through read(), which reports a key of another type as WRONG_TYPE).
]]
local rcall = redis.call
local CHUNK = 128
local MAX_ID = 9007199254740992
local MAX_BANDS = 65536
-- Memberships (ids x bands) one insert or delete call may carry (lshrs.limits).
local MAX_MEMBERSHIPS = 16384

local function fail(code, detail)
  local message = 'LSHRS_' .. code .. ' ' .. detail
  if redis.REDIS_VERSION then error({err = message}) end
  error(message, 0)
end

local function bad(what)
  fail('BAD_ARGUMENT', what)
end

-- Text safe in an error reply: bytes outside printable ASCII as \xHH.
local function shown(text)
  return (string.gsub(tostring(text), '[^%w%p ]',
    function(c) return string.format('\\x%02x', string.byte(c)) end))
end

-- KEYS[1], the root: the only key, of the form {<tag>}: with a non-empty tag free of
-- braces. Every key a script derives from it then shares the tag's hash slot, and an
-- empty or partial root can never name other applications' keys.
local function root_arg(keys)
  local root = keys[1]
  if #keys ~= 1 or not string.find(root, '^{[^{}]+}:$') then
    bad('KEYS must be one root of the form {<prefix>}: (a non-empty prefix without braces), got '
      .. #keys .. ' keys' .. (root and (', ' .. shown(root)) or ''))
  end
  return root
end

-- The number of arguments must be at least `low` (and at most `high`, when given).
local function arity(args, low, high, synopsis)
  if #args < low or (high and #args > high) then
    bad('expected ' .. synopsis .. ', got ' .. #args .. ' arguments')
  end
end

-- A decimal integer in [low, high] given as text, or nil.
local function int_in(text, low, high)
  local value = tonumber(text)
  if value == nil or value % 1 ~= 0 or value < low or value > high then return nil end
  return value
end

-- An id given as decimal text: an integer in [0, 2^53), no sign, no leading zeros.
-- Returns the number, or nil.
local function canonical_id(text)
  local id = tonumber(text)
  if id == nil or id < 0 or id >= MAX_ID or id % 1 ~= 0 then return nil end
  if string.format('%d', id) ~= text then return nil end
  return id
end

-- args[first..] as ids (numbers, see canonical_id), each given once; a BAD_ARGUMENT
-- error names the first malformed or repeated one.
local function id_args(args, first)
  local ids, seen = {}, {}
  for i = first, #args do
    local id = canonical_id(args[i])
    if id == nil then bad('id ' .. shown(args[i])) end
    if seen[id] then bad('id ' .. args[i] .. ' is given twice') end
    seen[id] = true
    ids[#ids + 1] = id
  end
  return ids
end

-- The prefix of band b's bucket keys: <root>b and the band as 2 bytes big-endian; a
-- bucket's key adds its band signature.
local function band_prefix(root, b)
  return root .. 'b' .. string.char(math.floor(b / 256), b % 256)
end

-- band_prefix of every band, by band number from 0.
local function band_prefixes(root, num_bands)
  local prefixes = {}
  for b = 0, num_bands - 1 do prefixes[b] = band_prefix(root, b) end
  return prefixes
end

-- The reverse-index hash holding an id (a number): <root>r<floor(id / 128)>.
local function reverse_key(root, id)
  return root .. 'r' .. string.format('%d', math.floor(id / CHUNK))
end

-- A non-negative integer argument, or a BAD_ARGUMENT error naming it.
local function count_arg(text, name)
  local value = tonumber(text)
  if value == nil or value < 0 or value % 1 ~= 0 then
    bad(name .. ' must be a non-negative integer, got ' .. shown(text))
  end
  return value
end

-- The error reply LSHRS_<CODE> <detail>, for a script to return from its top level.
local function refuse(code, detail)
  return redis.error_reply('LSHRS_' .. code .. ' ' .. detail)
end

-- redis.call(command, key, ...) for a command that reads key; a WRONG_TYPE error
-- when key holds a type the command does not take.
local function read(command, key, ...)
  local reply = redis.pcall(command, key, ...)
  if type(reply) == 'table' and reply.err then
    if string.find(reply.err, 'WRONGTYPE', 1, true) then
      fail('WRONG_TYPE', shown(key) .. ' holds another type than ' .. command .. ' reads')
    end
    error(reply.err, 0)
  end
  return reply
end

-- A WRONG_TYPE error unless key is missing or holds `kind` ("set", "hash", "string").
local function check_type(key, kind)
  local found = rcall('TYPE', key).ok
  if found ~= kind and found ~= 'none' then
    fail('WRONG_TYPE', shown(key) .. ' holds a ' .. found .. ', not a ' .. kind)
  end
end

-- The ranges of the cfg fields scripts lay keys and records out by.
local LAYOUT = {
  num_bands = {1, MAX_BANDS},
  sig_bytes = {1, 2147483647},
  nlist = {1, 4294967296},
  record_bytes = {9, 2147483647},
}

-- Reads <root>cfg for a script, without raising: `fields` (a list of names) must hold
-- well-formed values where LAYOUT names a range, and `fingerprint` (unless nil) must
-- equal the stored one. A writer (`writing` true) is refused while a clear is under
-- way, and "count" must be an integer (or missing) for it to add to. Returns the
-- values of `fields` in order; or nil when the index does not exist; or nil and the
-- code and detail of the error to answer (for refuse()).
local function config(root, fingerprint, fields, writing)
  if fingerprint == '' then return nil, 'BAD_ARGUMENT', 'the fingerprint is missing' end
  local values = read('HMGET', root .. 'cfg', 'fingerprint', 'clearing', 'count', unpack(fields))
  local stored, clearing, count = values[1], values[2], values[3]
  if writing and clearing then return nil, 'CLEARING', shown(root) end
  if not stored then return nil end
  if fingerprint ~= nil and stored ~= fingerprint then
    return nil, 'CONFIG_MISMATCH', shown(stored) .. ' | ' .. shown(fingerprint)
  end
  if writing and count and not int_in(count, -MAX_ID, MAX_ID) then
    return nil, 'BAD_CONFIG', 'count ' .. shown(count) .. ' of ' .. shown(root) .. 'cfg is not an integer'
  end
  local result = {}
  for i, name in ipairs(fields) do
    local value, range = values[i + 3], LAYOUT[name]
    if range and not int_in(value, range[1], range[2]) then
      return nil, 'BAD_CONFIG', name .. ' ' .. shown(value) .. ' of ' .. shown(root)
        .. 'cfg must be an integer in [' .. range[1] .. ', ' .. range[2] .. ']'
    end
    result[i] = range and tonumber(value) or value
  end
  return result
end

-- config(), raising its error; for a script that reads when `writing` is false. The
-- fingerprint (ARGV's first) must be given.
local function attached(root, fingerprint, fields, writing)
  local values, code, detail = config(root, fingerprint or '', fields, writing)
  if code then fail(code, detail) end
  return values
end
