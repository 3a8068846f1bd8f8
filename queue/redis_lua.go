package queue

import (
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/loomhq/loom/plugins/sdk"
)

// The Redis backend's state transitions, one Lua script each, so that no
// two clients interleave inside a transition (a stale lease can never
// complete; a canceled job can never be completed or requeued).
//
// Keys (P is Options.Prefix). A lane is one task's jobs for one model
// (queue.Lane); a task name holds no ':', so {task}:{model} is unambiguous.
//
//	P q:{task}:{model}:high,            stream per lane and priority; group "loom"; entry fields: id.
//	P q:{task}:{model}:normal           A worker reads only the lanes of the models it has ready.
//	P lanes                             set of "{task}:{model}": every lane enqueued to or
//	                                    registered for (Depth, Lanes and /v1/models walk it)
//	P deadlines                         zset job id → deadline (unix ms) of queued jobs that have
//	                                    one: any worker's Dequeue fails those past it, in any lane
//	P job:{id}                          hash: job (JSON), status, attempt, max, worker, token, entry,
//	                                    stream, deadline (unix ms or ""), error, result (JSON),
//	                                    created, started, finished (RFC 3339), seq (last event)
//	P ev:{id}                           stream of events, entry id "{seq}-0", fields type, time, data
//	P wake:{task}:{model}               list: one token per enqueue/requeue, popped by idle workers
//	P idem:{key}                        string: job id (SET NX PX ResultTTL)
//	P idx:{task}:{owner}                zset job id → created (unix ms): List's index of the task's jobs
//	                                    by Job.Owner ("" after the colon: none). Enqueue adds the job and
//	                                    drops up to two of the oldest members whose job hash expired; List
//	                                    drops the expired ones it meets; Delete removes its job
//	P owner:{owner}                     counter: the owner's jobs queued or running (Job.Owner;
//	                                    INCR at enqueue, DECR when the job ends; the job hash's
//	                                    ownerkey names it until then), PEXPIRE ResultTTL
//	P worker:{id}, P workers            WorkerInfo JSON (PX WorkerTTL) and a zset id → expiry (ms)
//
// Invariant: a queued or running job has exactly one live entry (hash field
// entry) in its stream; every other entry is XACKed and XDELed, so a
// stream's queued depth is XLEN minus its group's pending count, and its
// oldest queued job is the first entry after the group's last-delivered-id
// (entry ids are Redis's clock in ms, so that entry's id is when it was queued).
//
// Fairness: Dequeue's lanes take turns (each call starts one lane further
// on), High before Normal within a lane. Warm first: a lane a worker marks
// cold (model not loaded) is read only once its oldest entry is
// Options.ColdDelay old, judged by Redis's TIME against the entry id.
//
// Scripts that reach a job's keys from a stream entry (dequeue, cancel)
// build the key names from the prefix: fine on one Redis, not on a cluster.
const luaPrelude = "local codeTimeout, codeInternal = '" + string(sdk.CodeTimeout) + "', '" + string(sdk.CodeInternal) + "'\n" + `
local function ensureGroup(stream, group)
  local ok, err = pcall(redis.call, 'XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')
  if not ok and not string.find(tostring(err), 'BUSYGROUP') then error(err) end
end

local function queuedIn(stream, group)
  if redis.call('EXISTS', stream) == 0 then return 0 end
  local n = redis.call('XLEN', stream)
  local ok, p = pcall(redis.call, 'XPENDING', stream, group)
  if ok then n = n - p[1] end
  return n
end

local function dropEntry(stream, group, entry)
  if not entry or entry == '' then return end
  pcall(redis.call, 'XACK', stream, group, entry)
  redis.call('XDEL', stream, entry)
end

local function addEvent(hkey, evkey, typ, data, now, maxlen)
  local seq = redis.call('HINCRBY', hkey, 'seq', 1)
  redis.call('XADD', evkey, 'MAXLEN', maxlen, seq .. '-0', 'type', typ, 'time', now, 'data', data)
end

local function finish(hkey, evkey, status, now, ttl)
  local owner = redis.call('HGET', hkey, 'ownerkey')
  if owner and owner ~= '' then
    if redis.call('DECR', owner) <= 0 then redis.call('DEL', owner) end
    redis.call('HDEL', hkey, 'ownerkey')
  end
  redis.call('HSET', hkey, 'status', status, 'finished', now, 'token', '')
  redis.call('PEXPIRE', hkey, ttl)
  redis.call('PEXPIRE', evkey, ttl)
end

-- nextQueued is the id of the stream's oldest entry not yet delivered to group, or nil.
local function nextQueued(stream, group)
  if redis.call('EXISTS', stream) == 0 then return nil end
  local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', stream)
  local last = '0-0'
  if ok then
    for _, g in ipairs(groups) do
      local name, ld
      for i = 1, #g, 2 do
        if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then ld = g[i + 1] end
      end
      if name == group then last = ld end
    end
  end
  local e = redis.call('XRANGE', stream, '(' .. last, '+', 'COUNT', 1)
  if #e == 0 then return nil end
  return e[1][1]
end

local function entryMs(id) return tonumber(string.match(id, '^(%d+)')) end

local function redisNowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- expireDeadlines fails up to 20 queued jobs whose deadline (zset score)
-- passed, wherever they wait; jobs no longer queued just leave the zset.
local function expireDeadlines(zkey, nowMs, now, maxev, ttl, group, prefix)
  local ids = redis.call('ZRANGEBYSCORE', zkey, '-inf', nowMs, 'LIMIT', 0, 20)
  for _, id in ipairs(ids) do
    redis.call('ZREM', zkey, id)
    local hkey, evkey = prefix .. 'job:' .. id, prefix .. 'ev:' .. id
    local h = redis.call('HMGET', hkey, 'status', 'entry', 'stream')
    if h[1] == 'queued' then
      dropEntry(h[3], group, h[2])
      local jerr = cjson.encode({code = 'timeout', message = 'deadline passed before a worker took the job'})
      redis.call('HSET', hkey, 'error', jerr, 'entry', '')
      addEvent(hkey, evkey, 'error', jerr, now, maxev)
      finish(hkey, evkey, 'failed', now, ttl)
    end
  end
end

local function wake(key)
  redis.call('LPUSH', key, '1')
  redis.call('LTRIM', key, 0, 63)
  redis.call('PEXPIRE', key, 86400000)
end

-- held answers 'ok' when token still holds the running job.
local function held(hkey, token)
  local h = redis.call('HMGET', hkey, 'status', 'token')
  if not h[1] then return 'lost' end
  if h[1] == 'canceled' then return 'canceled' end
  if h[1] ~= 'running' or h[2] ~= token then return 'lost' end
  return 'ok'
end
`

// taskDepth sums the queued jobs of every lane of task (prefix-built keys).
const luaTaskDepth = `
local function taskDepth(lanesKey, prefix, task, group)
  local n = 0
  for _, lane in ipairs(redis.call('SMEMBERS', lanesKey)) do
    if string.sub(lane, 1, #task + 1) == task .. ':' then
      n = n + queuedIn(prefix .. 'q:' .. lane .. ':high', group) + queuedIn(prefix .. 'q:' .. lane .. ':normal', group)
    end
  end
  return n
end
`

// KEYS: hash, events, stream, wake list, idem key, lanes set, deadlines zset, owner counter, list index
// ARGV: id, job JSON, now, max depth, ttl ms, max events, queued data,
// use idem ("1"/"0"), max attempts, group, deadline ms or "", lane member, prefix, task,
// owner limit (0: none; the counter key is "" without an owner), now ms
// Answers {'ok'}, {'existed', id}, {'dup'}, {'full', depth} or {'limit'}.
var luaEnqueue = lazyScript(luaPrelude + luaTaskDepth + `
local group = ARGV[10]
if ARGV[8] == '1' then
  local existing = redis.call('GET', KEYS[5])
  if existing then return {'existed', existing} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'dup'} end
redis.call('SADD', KEYS[6], ARGV[12])
local depth = taskDepth(KEYS[6], ARGV[13], ARGV[14], group)
if depth >= tonumber(ARGV[4]) then return {'full', depth} end
local limit = tonumber(ARGV[15])
if KEYS[8] ~= '' then
  if limit > 0 and tonumber(redis.call('GET', KEYS[8]) or '0') >= limit then return {'limit'} end
  redis.call('INCR', KEYS[8])
  redis.call('PEXPIRE', KEYS[8], ARGV[5])
end
ensureGroup(KEYS[3], group)
local entry = redis.call('XADD', KEYS[3], '*', 'id', ARGV[1])
redis.call('HSET', KEYS[1], 'job', ARGV[2], 'status', 'queued', 'attempt', 0, 'max', ARGV[9],
  'created', ARGV[3], 'seq', 0, 'entry', entry, 'stream', KEYS[3], 'deadline', ARGV[11], 'token', '')
if ARGV[11] ~= '' then redis.call('ZADD', KEYS[7], ARGV[11], ARGV[1]) end
if KEYS[8] ~= '' then redis.call('HSET', KEYS[1], 'ownerkey', KEYS[8]) end
addEvent(KEYS[1], KEYS[2], 'queued', ARGV[7], ARGV[3], ARGV[6])
if ARGV[8] == '1' then redis.call('SET', KEYS[5], ARGV[1], 'PX', ARGV[5], 'NX') end
for _, old in ipairs(redis.call('ZRANGE', KEYS[9], 0, 1)) do
  if redis.call('EXISTS', ARGV[13] .. 'job:' .. old) == 0 then redis.call('ZREM', KEYS[9], old) end
end
redis.call('ZADD', KEYS[9], ARGV[16], ARGV[1])
wake(KEYS[4])
return {'ok'}
`)

// KEYS: job hash, event stream, deadlines zset   ARGV: prefix, id
// Removes a (canceled or finished) job: its hash, events, List index entry,
// deadline and idempotency key. Answers 0 when the job is unknown.
var luaDelete = lazyScript(`
local raw = redis.call('HGET', KEYS[1], 'job')
if not raw then return 0 end
local job = cjson.decode(raw)
local owner = job['owner']
if type(owner) ~= 'string' then owner = '' end
redis.call('ZREM', ARGV[1] .. 'idx:' .. job['task'] .. ':' .. owner, ARGV[2])
local ik = job['idempotency_key']
if type(ik) == 'string' and ik ~= '' and redis.call('GET', ARGV[1] .. 'idem:' .. ik) == ARGV[2] then
  redis.call('DEL', ARGV[1] .. 'idem:' .. ik)
end
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('DEL', KEYS[1], KEYS[2])
return 1
`)

// KEYS: deadlines zset, then per lane its high and normal streams
// ARGV: group, worker, lease ms, now, now ms, max events, ttl ms, prefix, token nonce,
// cold delay ms, first lane (0-based), then per lane "1" when cold
//
// Lanes take turns from the first; in each, high then normal stream: first
// entries whose holder stopped heartbeating (XAUTOCLAIM, idle ≥ lease), then
// new ones (XREADGROUP), unless the lane is cold and its oldest new entry is
// younger than the cold delay. Stale entries (canceled or finished jobs) are
// dropped on the way. Answers the job, or {'wait', ms} when nothing was
// taken (ms > 0: a cold lane's job becomes takeable then).
var luaDequeue = lazyScript(luaPrelude + `
local group, worker, leaseMs, now, nowMs = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local maxev, ttl, prefix, nonce = ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local coldMs, first = tonumber(ARGV[10]), tonumber(ARGV[11])
expireDeadlines(KEYS[1], nowMs, now, maxev, ttl, group, prefix)

-- take leases the job behind entry, or answers nil when the entry is stale
-- or the job ended here (dead-lettered, deadline passed).
local function take(stream, entry, fields, reclaimed)
  if not fields or #fields < 2 then
    dropEntry(stream, group, entry)
    return nil
  end
  local id = fields[2]
  local hkey, evkey = prefix .. 'job:' .. id, prefix .. 'ev:' .. id
  local h = redis.call('HMGET', hkey, 'status', 'entry', 'attempt', 'max', 'worker', 'job', 'deadline')
  if not h[1] or h[2] ~= entry or (h[1] ~= 'queued' and h[1] ~= 'running') then
    dropEntry(stream, group, entry)
    return nil
  end
  local attempt, max = tonumber(h[3]), tonumber(h[4])
  if h[1] == 'running' and not reclaimed then
    -- A running job's entry delivered as new: the group was lost and made
    -- again. Its holder may be alive (its next heartbeat XCLAIMs the entry
    -- back); if not, XAUTOCLAIM finds the entry idle one lease from now.
    return nil
  end
  if h[1] == 'running' then
    -- XAUTOCLAIM found the entry idle a whole lease: the holder stopped heartbeating.
    local jerr = {code = codeInternal, message = 'attempt ' .. attempt .. ': lease expired (worker "' .. tostring(h[5]) .. '" stopped heartbeating)'}
    redis.call('HSET', hkey, 'error', cjson.encode(jerr))
    if attempt >= max then
      dropEntry(stream, group, entry)
      addEvent(hkey, evkey, 'error', cjson.encode(jerr), now, maxev)
      finish(hkey, evkey, 'failed', now, ttl)
      return nil
    end
    addEvent(hkey, evkey, 'retry', cjson.encode({attempt = attempt, reason = 'lease_expired', error = jerr}), now, maxev)
  end
  if h[7] and h[7] ~= '' and tonumber(h[7]) <= nowMs then
    local jerr = cjson.encode({code = codeTimeout, message = 'deadline passed before a worker took the job'})
    dropEntry(stream, group, entry)
    redis.call('HSET', hkey, 'error', jerr, 'entry', '')
    addEvent(hkey, evkey, 'error', jerr, now, maxev)
    finish(hkey, evkey, 'failed', now, ttl)
    return nil
  end
  attempt = attempt + 1
  local token = entry .. '/' .. nonce
  redis.call('HSET', hkey, 'status', 'running', 'attempt', attempt, 'worker', worker, 'token', token, 'started', now)
  addEvent(hkey, evkey, 'started', cjson.encode({attempt = attempt, worker = worker}), now, maxev)
  return {h[6], attempt, token, stream}
end

-- coldWait is the ms until a cold lane's oldest entry may be taken (0: none waits).
local coldWait, redisMs = 0, nil
local function young(stream)
  local id = nextQueued(stream, group)
  if not id then return false end
  redisMs = redisMs or redisNowMs()
  local left = entryMs(id) + coldMs - redisMs
  if left <= 0 then return false end
  if coldWait == 0 or left < coldWait then coldWait = left end
  return true
end

local lanes = (#KEYS - 1) / 2
for k = 0, lanes - 1 do
 local i = (first + k) % lanes
 local cold = ARGV[12 + i] == '1'
 for _, stream in ipairs({KEYS[2 + 2 * i], KEYS[3 + 2 * i]}) do
  local cursor = '0-0'
  for _ = 1, 100 do
    local ok, r = pcall(redis.call, 'XAUTOCLAIM', stream, group, worker, leaseMs, cursor, 'COUNT', 1)
    if not ok then break end
    for _, e in ipairs(r[2]) do
      local got = take(stream, e[1], e[2], true)
      if got then return got end
    end
    cursor = r[1]
    if cursor == '0-0' then break end
  end
  for _ = 1, 1000 do
    if cold and young(stream) then break end
    local ok, r = pcall(redis.call, 'XREADGROUP', 'GROUP', group, worker, 'COUNT', 1, 'STREAMS', stream, '>')
    if not ok then
      -- NOGROUP: a new task, or Redis restarted empty.
      ensureGroup(stream, group)
      break
    end
    if not r then break end
    local e = r[1][2][1]
    local got = take(stream, e[1], e[2], false)
    if got then return got end
  end
 end
end
return {'wait', coldWait}
`)

// KEYS: hash, stream   ARGV: token, group, worker
var luaHeartbeat = lazyScript(luaPrelude + `
local st = held(KEYS[1], ARGV[1])
if st ~= 'ok' then return st end
local entry = redis.call('HGET', KEYS[1], 'entry')
-- XCLAIM to ourselves resets the entry's idle time: the lease is renewed.
local ok = pcall(redis.call, 'XCLAIM', KEYS[2], ARGV[2], ARGV[3], 0, entry, 'JUSTID')
if not ok then return 'lost' end
return 'ok'
`)

// KEYS: hash, events   ARGV: token, type, data, now, max events
var luaPublish = lazyScript(luaPrelude + `
local st = held(KEYS[1], ARGV[1])
if st ~= 'ok' then return st end
addEvent(KEYS[1], KEYS[2], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
return 'ok'
`)

// KEYS: hash, events, stream   ARGV: token, result JSON, now, max events, ttl ms, group, event data
var luaComplete = lazyScript(luaPrelude + `
local st = held(KEYS[1], ARGV[1])
if st ~= 'ok' then return st end
dropEntry(KEYS[3], ARGV[6], redis.call('HGET', KEYS[1], 'entry'))
redis.call('HSET', KEYS[1], 'result', ARGV[2], 'entry', '')
redis.call('HDEL', KEYS[1], 'error')
addEvent(KEYS[1], KEYS[2], 'result', ARGV[7], ARGV[3], ARGV[4])
finish(KEYS[1], KEYS[2], 'succeeded', ARGV[3], ARGV[5])
return 'ok'
`)

// Fail, and Release (ARGV[9] == "1": the attempt is given back).
// KEYS: hash, events, stream, wake list (the job's lane's)
// ARGV: token, error JSON or "", requeue ("1"/"0"), now, max events, ttl ms, group, retry event data,
// release ("1"/"0"), job id
var luaEndAttempt = lazyScript(luaPrelude + `
local st = held(KEYS[1], ARGV[1])
if st ~= 'ok' then return st end
local h = redis.call('HMGET', KEYS[1], 'attempt', 'max', 'entry')
local attempt, max = tonumber(h[1]), tonumber(h[2])
dropEntry(KEYS[3], ARGV[7], h[3])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[2]) end
if ARGV[9] == '1' or (ARGV[3] == '1' and attempt < max) then
  local entry = redis.call('XADD', KEYS[3], '*', 'id', ARGV[10])
  if ARGV[9] == '1' then attempt = attempt - 1 end
  redis.call('HSET', KEYS[1], 'status', 'queued', 'entry', entry, 'token', '', 'attempt', attempt)
  addEvent(KEYS[1], KEYS[2], 'retry', ARGV[8], ARGV[4], ARGV[5])
  wake(KEYS[4])
  return 'ok'
end
redis.call('HSET', KEYS[1], 'entry', '')
addEvent(KEYS[1], KEYS[2], 'error', ARGV[2], ARGV[4], ARGV[5])
finish(KEYS[1], KEYS[2], 'failed', ARGV[4], ARGV[6])
return 'ok'
`)

// KEYS: hash, events   ARGV: now, max events, ttl ms, group
// Answers the status before the call, or "" when the job does not exist.
var luaCancel = lazyScript(luaPrelude + `
local h = redis.call('HMGET', KEYS[1], 'status', 'entry', 'stream')
if not h[1] then return '' end
if h[1] == 'queued' or h[1] == 'running' then
  dropEntry(h[3], ARGV[4], h[2])
  redis.call('HSET', KEYS[1], 'entry', '')
  addEvent(KEYS[1], KEYS[2], 'canceled', '{}', ARGV[1], ARGV[2])
  -- finish clears the token; keep it so the holder learns of the cancel.
  local token = redis.call('HGET', KEYS[1], 'token')
  finish(KEYS[1], KEYS[2], 'canceled', ARGV[1], ARGV[3])
  redis.call('HSET', KEYS[1], 'token', token)
end
return h[1]
`)

// KEYS: lanes set   ARGV: group, prefix, task
var luaDepth = lazyScript(luaPrelude + luaTaskDepth + `
return taskDepth(KEYS[1], ARGV[2], ARGV[3], ARGV[1])
`)

// KEYS: lanes set, deadlines zset   ARGV: group, prefix, now, now ms, max events, ttl ms
// Answers a flat list: lane member, queued depth, age of its oldest queued entry in ms.
var luaLanes = lazyScript(luaPrelude + `
local group, prefix = ARGV[1], ARGV[2]
expireDeadlines(KEYS[2], tonumber(ARGV[4]), ARGV[3], ARGV[5], ARGV[6], group, prefix)
local out, nowMs = {}, redisNowMs()
for _, lane in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local depth, age = 0, 0
  for _, p in ipairs({':high', ':normal'}) do
    local stream = prefix .. 'q:' .. lane .. p
    depth = depth + queuedIn(stream, group)
    local id = nextQueued(stream, group)
    if id then age = math.max(age, nowMs - entryMs(id)) end
  end
  table.insert(out, lane)
  table.insert(out, depth)
  table.insert(out, age)
end
return out
`)

// lazyScript makes the script (its SHA-1, what EVALSHA sends) on first use,
// not in the package's init: every loom process links the queue, most never
// talk to Redis, and the ten scripts' sources and hashes were 47 KB of heap
// allocated before main (GODEBUG=inittrace=1).
func lazyScript(src string) func() *redis.Script {
	return sync.OnceValue(func() *redis.Script { return redis.NewScript(src) })
}
