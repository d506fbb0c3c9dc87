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
 *   x  until when the key's own TTL (PEXPIRE) is known to last, epoch ms: a write renews the TTL
 *      only when the session's new expiry (+ ttlExtraSeconds) passes it
 *   m  a moved session's marker, with \`b\` the only fields of the key then: until when, epoch ms
 *      (REMOVE of a move writes it in place of the session, with its own PEXPIRE; READ and LOCK answer
 *      'moved' until then, only where they found no session: no field read more on any other path)
 *   b  with \`m\`: the lock id of the move that left the marker (REMOVE run again under it answers OK)
 *   r  the token (unique to the call) of the last SAVE that released the lock: a SAVE run a second
 *      time (ioredis resends a command whose answer was lost) recognises its own first run by it, or
 *      by the lock it handed over (\`l\`), and answers R instead of a refusal
 *
 * The lock is two small fields of the hash: taking, probing, refusing or releasing it never reads
 * or rewrites the items (an O(1) field write, whatever the session's size). Expiry: the stored `e`
 * decides on every call; the key's `PEXPIRE` (timeout + `ttlExtraSeconds`, plus a quarter of the
 * timeout of slack, `x`) only frees the memory.
 * Every end of a lock (release, save, removal, revocation) that someone found held (`w`) announces
 * itself on the session's channel (the key + `:r`, in the session's slot): `SPUBLISH`, or `PUBLISH`
 * on a server without it. A waiter of another process subscribes before its next lock attempt, whose
 * `L` answer sets `w`, so the release it waits for always publishes; an uncontended one never does.
 * Replies start with a code: A absent, L locked, D data, OK, G gone, M lock mismatch,
 * X exists, R ran already (this SAVE's first run landed), C corrupt (with what).
 *
 * What a script costs Redis (measured: `bench/redis-script-cost.mjs`, docs/BENCHMARKS.md "Lua
 * script cost"): every `redis.call`, every field it reads or writes, every argument, every element
 * of the reply and every `tonumber` or number formatted costs about as much as a whole plain `GET`.
 * So the scripts of every request (LOCK, SAVE, RELEASE) define no helper functions, take the
 * numbers they write precomputed as strings, compare expiries as strings (integer ms, by length
 * first: no `tonumber`), renew the key's TTL only when it must (`x`), reply a bare code when that
 * says it all, and LOCK leaves the expiry to the end of the request (SAVE, RELEASE) unless it is
 * near (LOCK_SLIDE_MS).
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
  local r = redis.pcall('SPUBLISH', k .. ':r', 'r')
  if type(r) == 'table' and r.err then redis.call('PUBLISH', k .. ':r', 'r') end
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
-- the session (\`u\` < new expiry). Records the new horizon and answers it for the store's INDEX_OWNER.
local function index(owner, previous, u, ne, tms)
  if not owner then return false end
  if owner == previous and (tonumber(u) or 0) >= ne + extra then return false end
  local nu = ne + tms + extra
  redis.call('HSET', k, 'u', int(nu))
  return int(nu)
end
`;

/**
 * The hot scripts' `announce`, inlined (a local function is made anew on every call): SPUBLISH on
 * the session's channel when `condition` holds, PUBLISH on a server without it.
 */
function announce(condition: string): string {
  return `if ${condition} then
  local r = redis.pcall('SPUBLISH', k .. ':r', 'r')
  if type(r) == 'table' and r.err then redis.call('PUBLISH', k .. ':r', 'r') end
end`;
}

/**
 * Lua that adds to `set` (the fields of the HSET it then runs) the horizons a write pushes out when they
 * fall short of `keep`: the owner index's (`u`, when the session has an owner; `index` its new value, or
 * false) and the key's TTL (`x`; `renew`, `h` for the PEXPIRE that follows). Needs `k`, `tms`, `keep`, `set`.
 */
function pushHorizons({ owned, indexUntil, ttlUntil }: { owned: string; indexUntil: string; ttlUntil: string }): string {
  return `local index = false
if ${owned} and (tonumber(${indexUntil}) or 0) < keep then
  index = string.format('%d', keep + tms)
  table.insert(set, 'u') table.insert(set, index)
end
local renew = (tonumber(${ttlUntil}) or 0) < keep
local h = keep + math.floor(tms / 4)
if renew then table.insert(set, 'x') table.insert(set, string.format('%d', h)) end
redis.call('HSET', unpack(set))`;
}

function script(name: string, body: string, prelude = PRELUDE): RedisScript {
  const source = prelude + body;
  return { name, source, sha1: createHash('sha1').update(source).digest('hex') };
}

/** getItem. ARGV: now, extra. Reply D: expires, timeout, flags, owner, i, g, created, client; {'A', '1'}: a moved session's marker. */
export const READ = script(
  'read',
  `
local m = redis.call('HMGET', k, 'v', 'e', 'l', 'd', 'w', 't', 'f', 'o', 'i', 'g', 'c', 'a')
local s = state(m[1], m[2])
if s == 'corrupt' then return {'C', 'format'} end
if s == 'absent' then
  local mv = tonumber(redis.call('HMGET', k, 'm')[1])
  if mv and mv > now then return {'A', '1'} end
end
if s ~= 'live' then return {'A'} end
if m[3] then return locked(m[3], m[4], m[2], m[5]) end
return {'D', m[2], m[6], m[7], m[8], m[9], m[10], m[11], m[12]}
`,
);

/**
 * probeLock: the lock's four small fields, never the items. Marks a held lock as waited for, so its
 * release publishes even to a waiter whose last notice was lost. ARGV: now, extra.
 */
export const PROBE = script(
  'probe',
  `
local m = redis.call('HMGET', k, 'v', 'e', 'l', 'd', 'w')
if state(m[1], m[2]) ~= 'live' or not m[3] then return {'U'} end
return locked(m[3], m[4], m[2], m[5])
`,
);

/**
 * A LOCK slides the session's expiry only when it would come within this of now: otherwise the
 * SAVE or RELEASE that ends the request slides it (a request never sees its session expire under it
 * unless it runs longer than this, or than the session's timeout when that is shorter, as before).
 */
export const LOCK_SLIDE_MS = 10 * 60_000;

/**
 * getItemExclusive. ARGV: now, soon (now + LOCK_SLIDE_MS), lockId, extra. Replies: 'A'; 'V' (a moved
 * session's marker); {'L', lock
 * id, lock date, expires}; {'D', expires, timeout, flags, owner, i, g, index, created, client} when
 * it slid the expiry, else (most locks) {timeout, flags, owner, i, g, created, client, expires}.
 * The expiry is slid (and the key's TTL renewed when `x` says so, the owner index's horizon
 * checked) only when it is before `soon`; the expiry answered is the one the record has then.
 */
export const LOCK = script(
  'lock',
  `
local k = KEYS[1]
-- The lock's date and mark are read only when it is held (each field read costs; most locks are free).
local m = redis.call('HMGET', k, 'v', 'e', 'l')
local e, now = m[2], ARGV[1]
if m[1] ~= '1' or not e then
  if not m[1] and not e then
    -- No session: a moved session's marker (field m) is answered 'V' while it lasts.
    local mv = redis.call('HMGET', k, 'm')[1]
    if mv and (#mv > #now or (#mv == #now and mv > now)) then return 'V' end
    return 'A'
  end
  return {'C', 'format'}
end
if #e < #now or (#e == #now and e <= now) then return 'A' end
-- Held by ARGV[3] itself: this LOCK's first run took it (its answer was lost and the command resent,
-- as ioredis does), so it is answered as taken now, not as another request's lock.
if m[3] and m[3] ~= ARGV[3] then
  local held = redis.call('HMGET', k, 'd', 'w')
  -- Best effort (pcall): at maxmemory under noeviction the mark is refused, and the answer stands.
  if not held[2] then redis.pcall('HSET', k, 'w', '1') end
  return {'L', m[3], held[1] or '0', e}
end
local x = redis.call('HMGET', k, 't', 'f', 'o', 'i', 'g', 'c', 'a')
local soon = ARGV[2]
if #e > #soon or (#e == #soon and e > soon) then
  -- This LOCK's own first run (resent): its lost answer may have carried the owner index's horizon (a
  -- slide): answered again, with the stored one, for the store to index the owner.
  if m[3] then return {'D', e, x[1], x[2], x[3], x[4], x[5], x[3] and redis.call('HMGET', k, 'u')[1], x[6], x[7]} end
  redis.call('HSET', k, 'l', ARGV[3], 'd', now)
  if x[2] then redis.call('HDEL', k, 'f') end
  -- The HMGET's own reply, the expiry appended: no code, no new table (each element costs).
  x[8] = e
  return x
end
local t = tonumber(x[1])
if not t or t <= 0 then return {'C', 'timeout'} end
local tms = t * 60000
local ne = tonumber(now) + tms
local keep = ne + tonumber(ARGV[4])
local y = redis.call('HMGET', k, 'u', 'x')
local set = {k, 'l', ARGV[3], 'd', now, 'e', string.format('%d', ne)}
${pushHorizons({ owned: 'x[3]', indexUntil: 'y[1]', ttlUntil: 'y[2]' })}
if x[2] then redis.call('HDEL', k, 'f') end
if renew then redis.call('PEXPIRE', k, string.format('%d', math.max(1, h - tonumber(now)))) end
-- A resent LOCK (m[3], its own id) whose first run pushed the horizon: the stored one, answered again.
return {'D', set[7], x[1], x[2], x[3], x[4], x[5], index or (m[3] and x[3] and y[1]), x[6], x[7]}
`,
  '',
);

/**
 * setAndReleaseItemExclusive, setItemExclusive, and a changed hand-over. ARGV: now, keep (the new
 * expiry + extra: what the key's TTL must reach), mode ('new'; 'set'; 'keep': set, keeping the lock's
 * date, for a mid-request save), lockId, field ('i' or 'g'), items, timeout, owner ('' for none), next
 * (the lock id to hold afterwards, '' to release), created ('' for none), client ('' for none),
 * expires (the new expiry), token (unique to this call: a releasing save records it in \`r\`).
 * The store computes the numbers every save writes (Lua would parse and format them at a measurable
 * cost); those written now and then (the key's TTL horizon, when renewed: keep + a quarter of the
 * timeout; the owner index's horizon: keep + the timeout) are computed here. Fields are deleted only
 * when they may exist (the owner's when the record had one, `w` when set).
 * Replies: 'OK'; {'OK', index or false, the owner this session no longer has (for the store's
 * SREM)} when there is one of those; {'R', owner, index horizon}: this save had already run (its token
 * in \`r\`, or its \`next\` holds the lock); 'X', 'G', 'M'; {'C', what}.
 */
export const SAVE = script(
  'save',
  `
local k = KEYS[1]
local m = redis.call('HMGET', k, 'v', 'e', 'l', 'o', 'u', 'w', 'x')
local v, e, now, keep = m[1], m[2], ARGV[1], ARGV[2]
local s = 'live'
if not v and not e then s = 'absent'
elseif v ~= '1' or not e then s = 'corrupt'
elseif #e < #now or (#e == #now and e <= now) then s = 'expired' end
local new = ARGV[3] == 'new'
local previous, u, x = false, false, m[7]
-- A save run a second time (a client resent it after its answer was lost: ioredis does) finds the
-- record its first run left: the lock that run handed over (\`next\`), or its token recorded (\`r\`),
-- both made for this one call (a second save under a spent lock id is refused, whatever it writes).
-- Answered R with the owner and the index's horizon, for the store to index the owner again. Read only
-- on a refusal's path.
if new then
  if s == 'live' then
    if m[3] == ARGV[9] or redis.call('HMGET', k, 'r')[1] == ARGV[13] then return {'R', m[4], m[5]} end
    return 'X'
  end
  if s == 'corrupt' then return {'C', 'format'} end
  if s ~= 'absent' then redis.call('DEL', k) end
  x = false
else
  if s == 'corrupt' then return {'C', 'format'} end
  if s == 'absent' or (m[3] ~= ARGV[4] and s == 'expired') then return 'G' end
  if m[3] ~= ARGV[4] then
    if m[3] == ARGV[9] or redis.call('HMGET', k, 'r')[1] == ARGV[13] then return {'R', m[4], m[5]} end
    return 'M'
  end
  previous, u = m[4], m[5]
end
local owner = ARGV[8] ~= '' and ARGV[8] or false
-- Built by index, not table.insert (a global lookup and a call each: measurable here).
local set = {k, ARGV[5], ARGV[6], 't', ARGV[7], 'e', ARGV[12]}
local drop = {k, ARGV[5] == 'i' and 'g' or 'i', 'f'}
local n, d = 7, 3
if new then set[8] = 'v' set[9] = '1' n = 9 end
local index = false
if owner then
  set[n + 1] = 'o' set[n + 2] = owner n = n + 2
  -- The owner index needs this session (again): a new owner, or an entry that may expire before it.
  if owner ~= previous or not u or #u < #keep or (#u == #keep and u < keep) then
    index = string.format('%d', tonumber(keep) + tonumber(ARGV[7]) * 60000)
    set[n + 1] = 'u' set[n + 2] = index n = n + 2
  end
elseif previous or u then
  drop[d + 1] = 'o' drop[d + 2] = 'u' d = d + 2
end
if ARGV[10] ~= '' then set[n + 1] = 'c' set[n + 2] = ARGV[10] n = n + 2 else drop[d + 1] = 'c' d = d + 1 end
if ARGV[11] ~= '' then set[n + 1] = 'a' set[n + 2] = ARGV[11] n = n + 2 else drop[d + 1] = 'a' d = d + 1 end
if ARGV[9] ~= '' then
  -- 'keep' (a mid-request save): the lock's date stays (read only then).
  set[n + 1] = 'l' set[n + 2] = ARGV[9]
  set[n + 3] = 'd' set[n + 4] = (ARGV[3] == 'keep' and redis.call('HMGET', k, 'd')[1]) or now
  n = n + 4
else
  drop[d + 1] = 'l' drop[d + 2] = 'd' d = d + 2
  if m[6] then drop[d + 1] = 'w' d = d + 1 end
  set[n + 1] = 'r' set[n + 2] = ARGV[13] n = n + 2
end
local renew = not x or #x < #keep or (#x == #keep and x < keep)
local h
if renew then
  h = tonumber(keep) + math.floor(tonumber(ARGV[7]) * 15000)
  set[n + 1] = 'x' set[n + 2] = string.format('%d', h)
end
-- The first write: at maxmemory under noeviction Redis refuses it with nothing written (503), and the
-- caller's release (RELEASE) frees the lock. Not HDEL first: a script that has written may write past maxmemory.
redis.call('HSET', unpack(set))
if not new then redis.call('HDEL', unpack(drop)) end
-- The TTL is renewed before announcing: a refused publish (ACL) must not leave it unrenewed.
if renew then redis.call('PEXPIRE', k, string.format('%d', math.max(1, h - tonumber(now)))) end
${announce("ARGV[9] == '' and m[6]")}
local dropped = (previous and previous ~= owner) and previous or false
if index or dropped then return {'OK', index, dropped} end
return 'OK'
`,
  '',
);

/**
 * releaseItemExclusive, and an unchanged hand-over. ARGV: now, extra, lockId, next ('' to release).
 * Replies: the new expiry (an integer); {'OK', expires, index, owner} when the owner index needs the
 * session again (the owner too, saving the store a read), or when a hand-over ran already (its lock is
 * \`next\`'s); 'G', 'M'; {'C', what}.
 */
export const RELEASE = script(
  'release',
  `
local k = KEYS[1]
local m = redis.call('HMGET', k, 'v', 'e', 'l', 't', 'o', 'u', 'w', 'x')
local v, e, now = m[1], m[2], ARGV[1]
if v ~= '1' or not e then return 'G' end
local expired = #e < #now or (#e == #now and e <= now)
if m[3] ~= ARGV[3] then
  -- A hand-over run a second time (resent after its answer was lost): its first run left the lock to
  -- \`next\`. Done: the expiry it wrote, and the owner index's horizon for the store to index again.
  if ARGV[4] ~= '' and m[3] == ARGV[4] and not expired then return {'OK', e, m[5] and m[6], m[5]} end
  if expired then return 'G' end
  return 'M'
end
local t = tonumber(m[4])
if not t or t <= 0 then
  -- Unreadable (LOCK's fast path does not read the timeout; the store refused the record): unlocked all the same.
  redis.call('HDEL', k, 'l', 'd', 'w')
  return {'C', 'timeout'}
end
local tms = t * 60000
local ne = tonumber(now) + tms
local keep = ne + tonumber(ARGV[2])
local set = {k, 'e', string.format('%d', ne)}
if ARGV[4] ~= '' then
  table.insert(set, 'l') table.insert(set, ARGV[4]) table.insert(set, 'd') table.insert(set, now)
else
  -- HDEL first: at maxmemory under noeviction Redis refuses a script's first HSET, never HDEL, and
  -- allows writes once the script has written; the lock is released even then.
  if m[7] then redis.call('HDEL', k, 'l', 'd', 'w') else redis.call('HDEL', k, 'l', 'd') end
end
${pushHorizons({ owned: 'm[5]', indexUntil: 'm[6]', ttlUntil: 'm[8]' })}
if renew then redis.call('PEXPIRE', k, string.format('%d', math.max(1, h - tonumber(now)))) end
${announce("ARGV[4] == '' and m[7]")}
if index then return {'OK', set[3], index, m[5]} end
return ne
`,
  '',
);

/**
 * removeItem. ARGV: now, extra, lockId, and for a move: the marker's end (epoch ms) and its TTL (ms),
 * written in place of the session (fields m and b alone: no data, no owner, nothing any index names).
 * Reply OK: the owner it had (for the store's SREM); a move's removal run again under its lock id
 * finds its own marker and answers OK too (no owner: its first run gave it).
 */
export const REMOVE = script(
  'remove',
  `
local m = redis.call('HMGET', k, 'v', 'e', 'l', 'o', 'w')
local s = state(m[1], m[2])
if s == 'absent' and ARGV[4] then
  local marker = redis.call('HMGET', k, 'm', 'b')
  if marker[2] == ARGV[3] and tonumber(marker[1] or 0) > now then return {'OK'} end
end
if s == 'absent' or s == 'corrupt' or (m[3] ~= ARGV[3] and s == 'expired') then return {'G'} end
if m[3] ~= ARGV[3] then return {'M'} end
redis.call('DEL', k)
if ARGV[4] then
  redis.call('HSET', k, 'm', ARGV[4], 'b', ARGV[3])
  redis.call('PEXPIRE', k, ARGV[5])
end
announce(m[5])
return {'OK', m[4]}
`,
);

/** resetItemTimeout: slides a live item's expiry; never creates one, never touches its lock. ARGV: now, extra. */
export const RESET = script(
  'reset',
  `
local m = redis.call('HMGET', k, 'v', 'e', 't', 'o', 'u')
if state(m[1], m[2]) ~= 'live' then return {'A'} end
local t = tonumber(m[3])
if not t or t <= 0 then return {'C', 'timeout'} end
local ne = now + t * 60000
-- The key's TTL is renewed to the expiry + extra exactly: \`x\` says so (see SAVE).
redis.call('HSET', k, 'e', int(ne), 'x', int(ne + extra))
redis.call('PEXPIRE', k, ttl(t * 60000 + extra))
return {'OK', int(ne), index(m[4], m[4], m[5], ne, t * 60000), m[4]}
`,
);

/** createUninitializedItem: an empty item flagged '1', only if no live one exists. ARGV: now, extra, timeout. */
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

/** revokeOwner, per session of the owner's index. ARGV: now, extra, owner. Reply: 1 removed, 2 removed (expired), 3 absent, 0 not the owner's. */
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
 * The owner index, `{prefix}owner:{<owner>}`: a sorted set in the owner's slot, session id scored by
 * until when the entry is needed (epoch ms: the session's expiry + ttlExtra + a timeout of slack,
 * field `u`). It has NO TTL, so that no `volatile-*` eviction policy ever picks it (it picked the
 * index before the owner's busy sessions when it had one: sign-out-everywhere then missed them);
 * entries past their horizon are trimmed (`ZREMRANGEBYSCORE`) whenever it is written, and the owner's
 * keys, once no entry is needed, are deleted by the store's sweep (`REAP_*`, the owner registered in
 * the reaper set `{prefix}owners`). The cap book, `{owner}:cap`, has no TTL either: it goes with the index.
 * An index of 0.x before this change is a set with a TTL: `MIGRATE_INDEX` turns it into the sorted set
 * where it is written (each member scored by the set's expiry, which covered them all); where it is
 * only read or trimmed of members, the scripts read it as it is.
 */
const MIGRATE_INDEX = `
local function migrate(z, now, fallback)
  if redis.call('TYPE', z).ok ~= 'set' then return end
  local ids = redis.call('SMEMBERS', z)
  local left = redis.call('PTTL', z)
  local keep = left > 0 and string.format('%d', now + left) or fallback
  redis.call('DEL', z)
  for _, id in ipairs(ids) do redis.call('ZADD', z, keep, id) end
end
-- The entry is needed until at least \`keep\` (never shortened: another write may need it longer).
local function needed(z, id, keep)
  local s = redis.call('ZSCORE', z, id)
  if not s or tonumber(s) < tonumber(keep) then redis.call('ZADD', z, keep, id) end
end
`;

/**
 * The owner index, `KEYS[1]`: `ARGV[1]`'s entry needed until at least `ARGV[2]` (epoch ms); trims
 * the entries past their horizon (`ARGV[3]`, now). `KEYS[2]`, the owner's cap book, loses a TTL an
 * older version gave it. The store registers the owner in the reaper set beside it (another slot).
 */
export const INDEX_OWNER = script(
  'index-owner',
  `
local z, now = KEYS[1], tonumber(ARGV[3])
migrate(z, now, ARGV[2])
needed(z, ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', z, '-inf', ARGV[3])
redis.call('PERSIST', KEYS[2])
return 1
`,
  MIGRATE_INDEX,
);

/**
 * Out of the owner index, `KEYS[1]` (a sorted set, or a set of an older version), and, for the ids
 * flagged '2', out of the owner's cap book, `KEYS[2]` (same slot). ARGV: id, flag pairs. One script
 * instead of an SREM and a ZREM: the index's type is known only on the server.
 */
export const UNINDEX_OWNER = script(
  'unindex-owner',
  `
local rem = redis.call('TYPE', KEYS[1]).ok == 'set' and 'SREM' or 'ZREM'
for i = 1, #ARGV, 2 do
  redis.call(rem, KEYS[1], ARGV[i])
  if ARGV[i + 1] == '2' then redis.call('ZREM', KEYS[2], ARGV[i]) end
end
return 1
`,
  '',
);

/**
 * maxSessionsPerOwner's book (see store/owner-slots.ts), `KEYS[1]`: a sorted set in the owner's slot,
 * session id scored by when it took its place; its moves, `KEYS[3]` (same slot): a sorted set of
 * 'new-id replaced-id' (ids are base64url: no space), so that the ACL the store already needs covers
 * it. One atomic step: a book that does not exist (the owner's first claim, or its owner's keys swept)
 * starts with the owner index's members, `KEYS[2]` (same slot), scored 0: sessions signed in before
 * the cap, checked at the cap like any entry. Then it removes the dead entries still scored as given
 * (and their moves), and sets `id`'s place if it has one or the others are fewer than the cap, a move
 * under way among them counting once (as `movesUnderWay`: both entries in the book, the new one taken
 * less than pendingMs ago, each id in one pair; a move whose new entry is gone is dropped). With
 * `replacing`, it records the move `id` → `replacing`. A place taken also enters `id` in the owner
 * index, needed for `keepMs`: the index is what keeps the book (the sweep deletes the book with the
 * index, when no entry is needed), so a claim whose save is still under way keeps its place. No TTL on
 * either (see INDEX_OWNER); the moves set has one (lost, moves only count twice).
 * ARGV: id, replacing ('' none), max, now, keepMs (the book's least time to live), pendingMs, then dead id, score pairs.
 * Reply: {'OK'}, or {'F', {id, score, id, score…}, {'new-id replaced-id'…}} (the book as it is).
 */
export const CLAIM_OWNER_SLOT = script(
  'claim-owner-slot',
  `
local z, index, mv, now = KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[4])
local keep = string.format('%d', now + math.max(1, tonumber(ARGV[5])))
migrate(index, now, keep)
-- ZCARD 0: no book (Redis keeps no empty sorted set); the moves of a book that went went with it.
if redis.call('ZCARD', z) == 0 then
  redis.call('DEL', mv)
  for _, held in ipairs(redis.call('ZRANGEBYSCORE', index, '(' .. ARGV[4], '+inf')) do redis.call('ZADD', z, 0, held) end
end
-- By moved id, and in the set's order: pairs are picked in the order movesUnderWay (store/owner-slots.ts) reads them.
local moves, order = {}, {}
for _, pair in ipairs(redis.call('ZRANGE', mv, 0, -1)) do
  local space = string.find(pair, ' ', 1, true)
  if space then
    local moved = string.sub(pair, 1, space - 1)
    moves[moved] = pair
    table.insert(order, moved)
  end
end
local function forget(moved)
  if moves[moved] then
    redis.call('ZREM', mv, moves[moved])
    moves[moved] = nil
  end
end
for i = 7, #ARGV, 2 do
  local at = redis.call('ZSCORE', z, ARGV[i])
  if at and tonumber(at) == tonumber(ARGV[i + 1]) then
    redis.call('ZREM', z, ARGV[i])
    forget(ARGV[i])
  end
end
if not redis.call('ZSCORE', z, ARGV[1]) then
  local others = redis.call('ZCARD', z)
  if ARGV[2] ~= '' and redis.call('ZSCORE', z, ARGV[2]) then others = others - 1 end
  local used = {[ARGV[1]] = true, [ARGV[2]] = true}
  for _, moved in ipairs(order) do
    local pair = moves[moved]
    local from = pair and string.sub(pair, #moved + 2)
    local at = pair and redis.call('ZSCORE', z, moved)
    if not pair then
      -- forgotten above (a dead entry's)
    elseif not at then
      forget(moved)
    elseif not used[moved] and not used[from] and tonumber(ARGV[4]) - tonumber(at) < tonumber(ARGV[6]) and redis.call('ZSCORE', z, from) then
      used[moved] = true
      used[from] = true
      others = others - 1
    end
  end
  if others >= tonumber(ARGV[3]) then
    return {'F', redis.call('ZRANGE', z, 0, -1, 'WITHSCORES'), redis.call('ZRANGE', mv, 0, -1)}
  end
end
redis.call('ZADD', z, ARGV[4], ARGV[1])
redis.call('PERSIST', z)
needed(index, ARGV[1], keep)
if ARGV[2] ~= '' then
  forget(ARGV[1])
  redis.call('ZADD', mv, ARGV[4], ARGV[1] .. ' ' .. ARGV[2])
  local ms = math.max(1, tonumber(ARGV[5]))
  if redis.call('PTTL', mv) < ms then redis.call('PEXPIRE', mv, ms) end
end
return {'OK'}
`,
  MIGRATE_INDEX,
);

/**
 * The reaper set, `KEYS[1]` (`{prefix}owners`): owner `ARGV[1]` to be looked at by the sweep at
 * `ARGV[2]` (epoch ms) at the latest; never earlier than a registration asked, but a sweep's lease
 * (a score ending in .5) is replaced whatever it says, so a sweep that took the owner before this
 * registration never drops it (its REAP_DONE finds the score changed).
 */
export const REAP_REGISTER = script(
  'reap-register',
  `
local s = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]))
if not s or s < tonumber(ARGV[2]) or s % 1 ~= 0 then redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1]) end
return 1
`,
  '',
);

/**
 * The sweep's first step, on the reaper set `KEYS[1]`: up to `ARGV[2]` owners due (scored at or
 * before `ARGV[1]`, now), each leased to this sweep (scored now + `ARGV[3]` ms + .5: other
 * instances' sweeps skip it, and take it again if this one dies). Reply: {lease score, owner…}.
 */
export const REAP_PICK = script(
  'reap-pick',
  `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local lease = string.format('%d', tonumber(ARGV[1]) + tonumber(ARGV[3])) .. '.5'
for _, owner in ipairs(due) do redis.call('ZADD', KEYS[1], lease, owner) end
table.insert(due, 1, lease)
return due
`,
  '',
);

/**
 * The sweep, on one owner's keys (`KEYS[1]` the index, `KEYS[2]` the cap book; the owner's slot):
 * trims the index's entries past their horizon (`ARGV[1]`, now). Entries left: answers the latest
 * horizon (when to look again). None: deletes the cap book too (nothing of the owner's is needed:
 * a claim under way has its entry in the index) and answers 0. An older version's set (with its TTL)
 * is left to expire: 0.
 */
export const REAP_OWNER = script(
  'reap-owner',
  `
local z = KEYS[1]
if redis.call('TYPE', z).ok == 'set' then return 0 end
redis.call('ZREMRANGEBYSCORE', z, '-inf', ARGV[1])
local last = redis.call('ZRANGE', z, -1, -1, 'WITHSCORES')
if last[2] then return last[2] end
redis.call('DEL', KEYS[2])
return 0
`,
  '',
);

/**
 * The sweep's last step, on the reaper set `KEYS[1]`: for each owner it leased (score still
 * `ARGV[1]`, the lease: a registration since replaced it, and wins), removes it (next '0': its keys
 * are gone) or scores it by when to look again. ARGV: lease, then owner, next pairs.
 */
export const REAP_DONE = script(
  'reap-done',
  `
for i = 2, #ARGV, 2 do
  if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[i])) == tonumber(ARGV[1]) then
    if ARGV[i + 1] == '0' then redis.call('ZREM', KEYS[1], ARGV[i]) else redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i]) end
  end
end
return 1
`,
  '',
);

/**
 * Whether a session is live and `ARGV[2]`'s, for the cap's check of its book: unexpired and, with
 * `ARGV[3]` (absoluteTimeout, ms; '' none), created less than that long ago. ARGV: now, owner,
 * absolute. Reply: live, its `c` (a bulk string: the cap orders places taken at once by it), or 1
 * without one; 2 stored as the owner's but past its absolute lifetime; 0 neither.
 */
export const OWNED = script(
  'owned',
  `
local m = redis.call('HMGET', KEYS[1], 'v', 'e', 'o', 'c')
local now = tonumber(ARGV[1])
if m[1] ~= '1' or not tonumber(m[2]) or tonumber(m[2]) <= now or m[3] ~= ARGV[2] then return 0 end
if ARGV[3] ~= '' and tonumber(m[4]) and now - tonumber(m[4]) >= tonumber(ARGV[3]) then return 2 end
return m[4] or 1
`,
  '',
);

/**
 * The startup check of what the scripts may run: each command the store's scripts need on every
 * request, and those of the owner index and its sweep (a refused one there only logs, per login: a
 * sign-out-everywhere that silently misses sessions), on a key of its own (`KEYS[1]`, deleted again;
 * `KEYS[2]` a sorted set in the same slot), by `pcall`. Replies the commands the ACL refuses (none: an empty list). Not checked: the owner cap's
 * commands (only with maxSessionsPerOwner) and SPUBLISH/PUBLISH (without them a release is not
 * announced, and waiters of other instances poll).
 */
export const ACL_CHECK = script(
  'acl-check',
  `
local refused = {}
local function try(name, ...)
  local r = redis.pcall(name, ...)
  if type(r) == 'table' and r.err and string.find(r.err, "can't run") then table.insert(refused, name) end
end
try('HMGET', KEYS[1], 'v')
try('HSET', KEYS[1], 'v', '0')
try('HDEL', KEYS[1], 'v')
try('PEXPIRE', KEYS[1], '1000')
try('PTTL', KEYS[1])
try('TYPE', KEYS[2])
try('ZSCORE', KEYS[2], 'x')
try('ZADD', KEYS[2], '1', 'x')
try('PERSIST', KEYS[2])
try('ZRANGE', KEYS[2], 0, -1)
try('ZRANGEBYSCORE', KEYS[2], '-inf', '0')
try('ZREMRANGEBYSCORE', KEYS[2], '-inf', '0')
try('ZREM', KEYS[2], 'x')
try('DEL', KEYS[1], KEYS[2])
return refused
`,
  '',
);
