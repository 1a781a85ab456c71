--[[
  checks: the consistency checks of one index, shared by verify and verify_part

  The reverse index is the source of truth. A reverse entry must be a canonical id of
  its chunk with num_bands * sig_bytes bytes, and every bucket it names must hold the
  id; a bucket member must have such an entry naming this bucket in this band. With
  repair, what a check reports is fixed from the reverse index.

  A call spends at most CALL_UNITS units on checks: KEY_COST per key examined or
  SSCAN/HSCAN step, one per bucket member or reverse entry read, one per membership
  checked. lshrs.limits holds the same number (VERIFY_UNITS_PER_CALL).
  Needs the prelude.
]]
local CALL_UNITS = 8192
local KEY_COST = 16

-- A key's name after the root, in hex (bucket codes are binary), and back; nil when
-- `hex` is not an even number of hex digits.
local function to_hex(text)
  return (string.gsub(text, '.', function(c) return string.format('%02x', string.byte(c)) end))
end

local function from_hex(hex)
  if #hex % 2 ~= 0 or string.find(hex, '[^0-9a-fA-F]') then return nil end
  return (string.gsub(hex, '..', function(pair) return string.char(tonumber(pair, 16)) end))
end

-- The checks of the index at root with num_bands bands of width bytes. The problems
-- found are collected in the lists of the returned table, as verify reports them.
local function checker(root, num_bands, width, repair)
  local found = {
    without_entry = {}, missing_member = {}, stray_member = {}, malformed = {}, junk = {},
    misplaced = {},
  }
  local sigs_len = num_bands * width
  local band_key = band_prefixes(root, num_bands)
  local reported = {}

  -- The chunk (decimal text) an id belongs to, or nil for a non-canonical id.
  local function chunk_of(id)
    local n = canonical_id(id)
    if n == nil then return nil end
    return string.format('%d', math.floor(n / CHUNK))
  end
  found.chunk_of = chunk_of

  -- The reverse entry of id, or nil when it has none or a malformed one (or its
  -- chunk key holds another type).
  local function entry_of(id)
    local chunk = chunk_of(id)
    if chunk == nil then return nil end
    local sigs = redis.pcall('HGET', root .. 'r' .. chunk, id)
    if type(sigs) ~= 'string' or #sigs ~= sigs_len then return nil end
    return sigs
  end

  -- Reports a misplaced key once per call; repair unlinks it.
  function found.misplace(key)
    if reported[key] then return end
    reported[key] = true
    found.misplaced[#found.misplaced + 1] = key
    if repair then rcall('UNLINK', key) end
  end

  -- Checks the field id = sigs of the reverse-index hash key of chunk: a malformed
  -- entry is reported (repair deletes it); a well-formed entry's buckets must hold
  -- the id (repair adds it), one SISMEMBER per band. True for a well-formed entry.
  function found.entry(key, chunk, id, sigs)
    if chunk_of(id) ~= chunk or #sigs ~= sigs_len then
      found.malformed[#found.malformed + 1] = string.sub(key, #root + 1) .. '/' .. id
      if repair then rcall('HDEL', key, id) end
      return false
    end
    for b = 0, num_bands - 1 do
      local first = b * width + 1
      local bucket = band_key[b] .. string.sub(sigs, first, first + width - 1)
      local member = redis.pcall('SISMEMBER', bucket, id)
      if type(member) == 'table' then
        found.misplace(bucket)
        member = 0
      end
      if member == 0 then
        found.missing_member[#found.missing_member + 1] = id
        if repair then rcall('SADD', bucket, id) end
      end
    end
    return true
  end

  -- Checks the member id of the bucket key of code: it must be a canonical id whose
  -- reverse entry names this bucket in the code's band; repair removes it otherwise.
  function found.member(key, code, id)
    local band = string.byte(code, 1) * 256 + string.byte(code, 2)
    local first = band * width + 1
    local problems = nil
    if canonical_id(id) == nil then
      problems = found.junk
    else
      local sigs = entry_of(id)
      if sigs == nil then
        problems = found.without_entry
      elseif string.sub(sigs, first, first + width - 1) ~= string.sub(code, 3) then
        problems = found.stray_member
      end
    end
    if problems then
      problems[#problems + 1] = id
      if repair then rcall('SREM', key, id) end
    end
  end

  return found
end
