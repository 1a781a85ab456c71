--[[
  prelude: helpers shared by every lshrs script, prepended when a script loads

  A script names it with the line
    --- @include "prelude"
  and lshrs.protocol puts this file's text in place of that line, so each check
  below is written once. Clients in other languages expand the include the same
  way (docs/lua-protocol.md, "Loading the scripts").

  Errors are raised with error(<CODE> <detail>, 0): Redis 6.2 and 7.x both keep
  the text, wrapped in their own prefix and suffix, and clients find the
  LSHRS_<CODE> word in it. A script may instead return refuse(<CODE>, <detail>)
  from its top level: Redis hands a returned error reply to the client as it is,
  so its first word is the code (the bucket-index scripts answer this way). Raise
  or refuse only before the first write: Redis does not roll a script back.
]]
local rcall = redis.call
local CHUNK = 128
local MAX_ID = 9007199254740992

local function fail(code, detail)
  error('LSHRS_' .. code .. ' ' .. detail, 0)
end

local function bad(what)
  fail('BAD_ARGUMENT', what)
end

-- An id given as decimal text: an integer in [0, 2^53), no sign, no leading zeros.
-- Returns the number, or nil.
local function canonical_id(text)
  local id = tonumber(text)
  if id == nil or id < 0 or id >= MAX_ID or id % 1 ~= 0 then return nil end
  if string.format('%d', id) ~= text then return nil end
  return id
end

-- The reverse-index hash holding an id (a number): <root>r<floor(id / 128)>.
local function reverse_key(root, id)
  return root .. 'r' .. string.format('%d', math.floor(id / CHUNK))
end

-- A non-negative integer argument, or a BAD_ARGUMENT error naming it.
local function count_arg(text, name)
  local value = tonumber(text)
  if value == nil or value < 0 or value % 1 ~= 0 then
    bad(name .. ' must be a non-negative integer, got ' .. tostring(text))
  end
  return value
end

-- The error reply LSHRS_<CODE> <detail>, for a script to return from its top level.
local function refuse(code, detail)
  return redis.error_reply('LSHRS_' .. code .. ' ' .. detail)
end

-- Reads <root>cfg's fields after checking the fingerprint, without raising. Returns
-- the values of `fields` (a list of names) in order; or nil when the index does not
-- exist; or nil and the detail of a CONFIG_MISMATCH error, "<stored> | <given>".
local function checked_config(root, fingerprint, fields)
  local values = rcall('HMGET', root .. 'cfg', 'fingerprint', unpack(fields))
  local stored = values[1]
  if not stored then return nil end
  if stored ~= fingerprint then
    return nil, stored .. ' | ' .. tostring(fingerprint)
  end
  table.remove(values, 1)
  return values
end

-- Reads <root>cfg's fields after checking the fingerprint. Returns the values of
-- `fields` (a list of names) in order, or nil when the index does not exist.
local function attached(root, fingerprint, fields)
  local values, mismatch = checked_config(root, fingerprint, fields)
  if mismatch then fail('CONFIG_MISMATCH', mismatch) end
  return values
end
