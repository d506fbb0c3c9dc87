import { createHash } from 'node:crypto';

/**
 * The store's Lua scripts. Each contract call is one of them (or one plain `HMGET`): one round
 * trip, atomic on the server. A session is one hash, `KEYS[1]`; its fields:
 *
 *   v  record format ('1')            e  expiry, epoch ms (the store's clock)
 *   t  timeout, minutes               f  '1': made by createUninitializedItem
 *   i  items, JSON as given           g  items, gzip (instead of `i`)
 *   o  owner                          u  until when the owner index is known to hold the session, epoch ms
 *   l  lock id (absent: unlocked)     d  lock date, epoch ms
 *   c  created, epoch ms (as given)   a  client (as given; \`recordClient\`)
 *   w  '1': a request found it locked (and may wait): the release publishes, and clears it
 *
 * The lock is two small fields of the hash: taking, probing, refusing or releasing it never reads
 * or rewrites the items (an O(1) field write, whatever the session's size). Expiry: the stored `e`
 * decides on every call; the key's `PEXPIRE` (timeout + `ttlExtraSeconds`) only frees the memory.
 * Every end of a lock (release, save, removal, revocation) that someone found held (`w`) announces
 * itself on the session's channel (`ARGV[#ARGV]`, in the session's slot): `SPUBLISH`, or `PUBLISH`
 * on a server without it. A waiter of another process subscribes before its next lock attempt, whose
 * `L` answer sets `w`, so the release it waits for always publishes; an uncontended one never does.
 * Replies start with a code: A absent, L locked, D data, OK, G gone, M lock mismatch,
 * X exists, C corrupt (with what).
 */
export interface RedisScript {
  readonly name: string;
  readonly source: string;
  readonly sha1: string;
}

const PRELUDE = `
local k = KEYS[1]
local now = tonumber(ARGV[1])
local extra = tonumber(ARGV[2])
local function int(n) return string.format('%d', n) end
-- A key's time to live, ms: at least 1 (PEXPIRE 0 would delete it at once).
local function ttl(ms) return int(math.max(1, math.ceil(ms))) end
-- Wakes the waiters of other processes, if any said they wait (field w): a release nobody waits
-- for publishes nothing. SPUBLISH on the session's channel, PUBLISH on a server without it.
local function announce(w)
  if not w then return end
  local r = redis.pcall('SPUBLISH', ARGV[#ARGV], 'r')
  if type(r) == 'table' and r.err then redis.call('PUBLISH', ARGV[#ARGV], 'r') end
end
-- Another request holds the lock: the answer, and the mark that someone waits for its release.
-- Best effort (pcall): at maxmemory under noeviction the mark is refused, and the read still answers.
local function locked(l, d, e, w)
  if not w then redis.pcall('HSET', k, 'w', '1') end
  return {'L', l, d or '0', e}
end
-- The record's state from HMGET v, e: 'absent', 'corrupt', 'expired' or 'live', and its expiry.
local function state(v, e)
  if not v and not e then return 'absent', 0 end
  local n = tonumber(e)
  if v ~= '1' or not n then return 'corrupt', 0 end
  if n <= now then return 'expired', n end
  return 'live', n
end
-- The owner index needs this session (again): the owner is new, or its entry may expire before
-- the session (\`u\` < new expiry). Records the new horizon and answers it for the store's SADD.
local function index(owner, previous, u, ne, tms)
  if not owner then return false end
  if owner == previous and (tonumber(u) or 0) >= ne + extra then return false end
  local nu = ne + tms + extra
  redis.call('HSET', k, 'u', int(nu))
  return int(nu)
end
`;

function script(name: string, body: string, prelude = PRELUDE): RedisScript {
  const source = prelude + body;
  return { name, source, sha1: createHash('sha1').update(source).digest('hex') };
}

/** getItem. ARGV: now, extra, channel. Reply D: expires, timeout, flags, owner, i, g, created, client. */
export const READ = script(
  'read',
  `
local m = redis.call('HMGET', k, 'v', 'e', 'l', 'd', 'w', 't', 'f', 'o', 'i', 'g', 'c', 'a')
local s = state(m[1], m[2])
if s == 'corrupt' then return {'C', 'format'} end
if s ~= 'live' then return {'A'} end
if m[3] then return locked(m[3], m[4], m[2], m[5]) end
return {'D', m[2], m[6], m[7], m[8], m[9], m[10], m[11], m[12]}
`,
);

/**
 * probeLock: the lock's four small fields, never the items. Marks a held lock as waited for, so its
 * release publishes even to a waiter whose last notice was lost. ARGV: now, extra, channel.
 */
export const PROBE = script(
  'probe',
  `
local m = redis.call('HMGET', k, 'v', 'e', 'l', 'd', 'w')
if state(m[1], m[2]) ~= 'live' or not m[3] then return {'U'} end
return locked(m[3], m[4], m[2], m[5])
`,
);

/** getItemExclusive. ARGV: now, extra, lockId, channel. Reply D: expires, timeout, flags, owner, i, g, index, created, client. */
export const LOCK = script(
  'lock',
  `
local m = redis.call('HMGET', k, 'v', 'e', 'l', 'd', 'w')
local s = state(m[1], m[2])
if s == 'corrupt' then return {'C', 'format'} end
if s ~= 'live' then return {'A'} end
if m[3] then return locked(m[3], m[4], m[2], m[5]) end
local x = redis.call('HMGET', k, 't', 'f', 'o', 'i', 'g', 'u', 'c', 'a')
local t = tonumber(x[1])
if not t or t <= 0 then return {'C', 'timeout'} end
local ne = now + t * 60000
redis.call('HSET', k, 'l', ARGV[3], 'd', ARGV[1], 'e', int(ne))
if x[2] then redis.call('HDEL', k, 'f') end
redis.call('PEXPIRE', k, ttl(t * 60000 + extra))
return {'D', int(ne), x[1], x[2], x[3], x[4], x[5], index(x[3], x[3], x[6], ne, t * 60000), x[7], x[8]}
`,
);

/**
 * setAndReleaseItemExclusive, setItemExclusive, and a changed hand-over. ARGV: now, extra, mode
 * ('new' or 'set'), lockId, field ('i' or 'g'), items, timeout, owner ('' for none), next (the lock
 * id to hold afterwards, '' to release), keepDate ('1': keep the lock date), created ('' for none),
 * client ('' for none), channel.
 * Reply OK: expires, index, the owner this session no longer has (for the store's SREM).
 */
export const SAVE = script(
  'save',
  `
local m = redis.call('HMGET', k, 'v', 'e', 'l', 'o', 'u', 'd', 'w')
local s = state(m[1], m[2])
local new = ARGV[3] == 'new'
local previous, u = false, false
if new then
  if s == 'live' then return {'X'} end
  if s == 'corrupt' then return {'C', 'format'} end
  if s ~= 'absent' then redis.call('DEL', k) end
else
  if s == 'corrupt' then return {'C', 'format'} end
  if s == 'absent' or (m[3] ~= ARGV[4] and s == 'expired') then return {'G'} end
  if m[3] ~= ARGV[4] then return {'M'} end
  previous, u = m[4], m[5]
end
local t = tonumber(ARGV[7])
local tms = t * 60000
local ne = now + tms
local owner = ARGV[8] ~= '' and ARGV[8] or false
local set = {k, ARGV[5], ARGV[6], 't', ARGV[7], 'e', int(ne), 'v', '1'}
local drop = {k, ARGV[5] == 'i' and 'g' or 'i', 'f'}
if owner then table.insert(set, 'o') table.insert(set, owner) else table.insert(drop, 'o') table.insert(drop, 'u') end
if ARGV[11] ~= '' then table.insert(set, 'c') table.insert(set, ARGV[11]) else table.insert(drop, 'c') end
if ARGV[12] ~= '' then table.insert(set, 'a') table.insert(set, ARGV[12]) else table.insert(drop, 'a') end
if ARGV[9] ~= '' then
  table.insert(set, 'l') table.insert(set, ARGV[9])
  table.insert(set, 'd') table.insert(set, (ARGV[10] == '1' and m[6]) or ARGV[1])
else
  table.insert(drop, 'l') table.insert(drop, 'd') table.insert(drop, 'w')
end
-- The first write: at maxmemory under noeviction Redis refuses it with nothing written (503), and the
-- caller's release (RELEASE) frees the lock. Not HDEL first: a script that has written may write past maxmemory.
redis.call('HSET', unpack(set))
if not new then redis.call('HDEL', unpack(drop)) end
-- The TTL is renewed before announcing: a refused publish (ACL) must not leave it unrenewed.
redis.call('PEXPIRE', k, ttl(tms + extra))
if ARGV[9] == '' then announce(m[7]) end
local dropped = (previous and previous ~= owner) and previous or false
return {'OK', int(ne), index(owner, previous, u, ne, tms), dropped}
`,
);

/** releaseItemExclusive, and an unchanged hand-over. ARGV: now, extra, lockId, next ('' to release), channel. Reply OK: expires, index. */
export const RELEASE = script(
  'release',
  `
local m = redis.call('HMGET', k, 'v', 'e', 'l', 't', 'o', 'u', 'w')
local s = state(m[1], m[2])
if s == 'absent' or s == 'corrupt' or (m[3] ~= ARGV[3] and s == 'expired') then return {'G'} end
if m[3] ~= ARGV[3] then return {'M'} end
local t = tonumber(m[4])
if not t or t <= 0 then return {'C', 'timeout'} end
local ne = now + t * 60000
if ARGV[4] ~= '' then
  redis.call('HSET', k, 'l', ARGV[4], 'd', ARGV[1], 'e', int(ne))
else
  -- HDEL first: at maxmemory under noeviction Redis refuses a script's first HSET, never HDEL, and
  -- allows writes once the script has written; the lock is released even then.
  redis.call('HDEL', k, 'l', 'd', 'w')
  redis.call('HSET', k, 'e', int(ne))
end
redis.call('PEXPIRE', k, ttl(t * 60000 + extra))
if ARGV[4] == '' then announce(m[7]) end
return {'OK', int(ne), index(m[5], m[5], m[6], ne, t * 60000)}
`,
);

/** removeItem. ARGV: now, extra, lockId, channel. Reply OK: the owner it had (for the store's SREM). */
export const REMOVE = script(
  'remove',
  `
local m = redis.call('HMGET', k, 'v', 'e', 'l', 'o', 'w')
local s = state(m[1], m[2])
if s == 'absent' or s == 'corrupt' or (m[3] ~= ARGV[3] and s == 'expired') then return {'G'} end
if m[3] ~= ARGV[3] then return {'M'} end
redis.call('DEL', k)
announce(m[5])
return {'OK', m[4]}
`,
);

/** resetItemTimeout: slides a live item's expiry; never creates one, never touches its lock. ARGV: now, extra, channel. */
export const RESET = script(
  'reset',
  `
local m = redis.call('HMGET', k, 'v', 'e', 't', 'o', 'u')
if state(m[1], m[2]) ~= 'live' then return {'A'} end
local t = tonumber(m[3])
if not t or t <= 0 then return {'C', 'timeout'} end
local ne = now + t * 60000
redis.call('HSET', k, 'e', int(ne))
redis.call('PEXPIRE', k, ttl(t * 60000 + extra))
return {'OK', int(ne), index(m[4], m[4], m[5], ne, t * 60000)}
`,
);

/** createUninitializedItem: an empty item flagged '1', only if no live one exists. ARGV: now, extra, timeout, channel. */
export const CREATE_UNINITIALIZED = script(
  'create-uninitialized',
  `
local m = redis.call('HMGET', k, 'v', 'e')
local s = state(m[1], m[2])
if s == 'live' or s == 'corrupt' then return {'X'} end
local t = tonumber(ARGV[3])
redis.call('DEL', k)
redis.call('HSET', k, 'i', '{}', 't', ARGV[3], 'e', int(now + t * 60000), 'f', '1', 'v', '1')
redis.call('PEXPIRE', k, ttl(t * 60000 + extra))
return {'OK'}
`,
);

/** revokeOwner, per session of the owner's index. ARGV: now, extra, owner, channel. Reply: 1 removed, 2 removed (expired), 3 absent, 0 not the owner's. */
export const REVOKE = script(
  'revoke',
  `
local m = redis.call('HMGET', k, 'v', 'e', 'o', 'w')
if not m[1] and not m[2] and not m[3] then return 3 end
if m[3] ~= ARGV[3] then return 0 end
redis.call('DEL', k)
announce(m[4])
if state(m[1], m[2]) == 'live' then return 1 end
return 2
`,
);

/**
 * The owner index, `KEYS[1]` (a set of session ids in the owner's slot): adds one, and keeps the set
 * at least `ARGV[2]` ms; the owner's cap book, `KEYS[2]` (same slot), when it exists, as long.
 */
export const INDEX_OWNER = script(
  'index-owner',
  `
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
local c = redis.call('PTTL', KEYS[2])
if c ~= -2 and c < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return 1
`,
  '',
);

/**
 * maxSessionsPerOwner's book (see store/owner-slots.ts), `KEYS[1]`: a sorted set in the owner's slot,
 * session id scored by when it took its place. One atomic step: a book that does not exist (the
 * owner's first claim, or its book expired) starts with the owner index's members, `KEYS[2]` (same
 * slot), scored 0: sessions signed in before the cap, checked at the cap like any entry. Then it
 * removes the dead entries still scored as given, and sets `id`'s place if it has one or the others
 * are fewer than the cap.
 * ARGV: id, replacing ('' none), max, now, keepMs (the book's least time to live), then dead id, score pairs.
 * Reply: {'OK'}, or {'F', id, score, id, score…} (the book as it is).
 */
export const CLAIM_OWNER_SLOT = script(
  'claim-owner-slot',
  `
local z = KEYS[1]
-- ZCARD 0: no book (Redis keeps no empty sorted set).
if redis.call('ZCARD', z) == 0 then
  for _, held in ipairs(redis.call('SMEMBERS', KEYS[2])) do redis.call('ZADD', z, 0, held) end
end
for i = 6, #ARGV, 2 do
  local at = redis.call('ZSCORE', z, ARGV[i])
  if at and tonumber(at) == tonumber(ARGV[i + 1]) then redis.call('ZREM', z, ARGV[i]) end
end
if not redis.call('ZSCORE', z, ARGV[1]) then
  local others = redis.call('ZCARD', z)
  if ARGV[2] ~= '' and redis.call('ZSCORE', z, ARGV[2]) then others = others - 1 end
  if others >= tonumber(ARGV[3]) then
    -- A book just made of the index's members must outlive this answer (the claim's next round reads it).
    if redis.call('PTTL', z) < 0 then redis.call('PEXPIRE', z, math.max(1, tonumber(ARGV[5]))) end
    local book = redis.call('ZRANGE', z, 0, -1, 'WITHSCORES')
    table.insert(book, 1, 'F')
    return book
  end
end
redis.call('ZADD', z, ARGV[4], ARGV[1])
-- At least 1 ms: PEXPIRE 0 would delete the book at once.
local keep = math.max(1, tonumber(ARGV[5]))
if redis.call('PTTL', z) < keep then redis.call('PEXPIRE', z, keep) end
return {'OK'}
`,
  '',
);

/**
 * Whether a session is live and `ARGV[2]`'s, for the cap's check of its book: unexpired and, with
 * `ARGV[3]` (absoluteTimeout, ms; '' none), created less than that long ago. ARGV: now, owner,
 * absolute. Reply: 1 live, 2 stored as the owner's but past its absolute lifetime, 0 neither.
 */
export const OWNED = script(
  'owned',
  `
local m = redis.call('HMGET', KEYS[1], 'v', 'e', 'o', 'c')
local now = tonumber(ARGV[1])
if m[1] ~= '1' or not tonumber(m[2]) or tonumber(m[2]) <= now or m[3] ~= ARGV[2] then return 0 end
if ARGV[3] ~= '' and tonumber(m[4]) and now - tonumber(m[4]) >= tonumber(ARGV[3]) then return 2 end
return 1
`,
  '',
);
