/**
 * The shared quota's server-side scripts. Each runs atomically inside Redis, so every process that
 * shares the key sees one sliding log and no two can take the same place in it: no lock of our own.
 * Times are Redis's own clock (TIME), never the callers', so machines with skewed clocks agree.
 *
 * Keys: log (zset: requests that left, scored by departure ms), pending (zset: granted, not yet
 * left, scored by their notBefore), pause (string: epoch ms until which nobody is granted), epoch
 * (string: present while the store remembers the recent past), plan (string: the notBefore of the
 * last grant, which smooth pacing spaces the next one from), holders (zset: the processes using
 * the key, each member `<rate>/<process id>`, scored by when its claim lapses).
 *
 * The key's rate is the lowest `--rate` among its live holders, never a caller's own: a process
 * that asks for another rate is refused at start (CLAIM), and should claims have been lost
 * meanwhile (Redis restarted, a process stalled past its claim), every grant still enforces the
 * lowest rate any live process asked for. A claim lives as long as its process keeps renewing it
 * (a heartbeat, and every grant); a process that stops releases it, one that crashes lets it lapse.
 */

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
`;

/** Functions on the holders set (KEYS[6]); the rate stays the text its process gave (no rounding). */
const HOLDERS = `
local holders = KEYS[6]

-- Forget the claims that lapsed; the lowest rate among the others, as number and as given.
local function rateInForce()
  redis.call('ZREMRANGEBYSCORE', holders, '-inf', now)
  local lowest, text = nil, nil
  for _, member in ipairs(redis.call('ZRANGE', holders, 0, -1)) do
    local given = string.match(member, '^([^/]+)/')
    local rate = tonumber(given)
    if rate and (lowest == nil or rate < lowest) then lowest, text = rate, given end
  end
  return lowest, text
end

-- Claim (or renew) the key for a process until now + ttl; the set lives as long as its last claim.
local function hold(rate, holder, ttl)
  redis.call('ZADD', holders, now + ttl, rate .. '/' .. holder)
  local last = redis.call('ZRANGE', holders, -1, -1, 'WITHSCORES')
  redis.call('PEXPIRE', holders, math.ceil(tonumber(last[2]) - now))
end
`;

/**
 * ARGV: rate, process id, claim ttl ms, strict (1/0).
 * Strict (at start): if live holders are at another rate, claims nothing and returns {0, their
 * rate}; else claims and returns {1, rate}. Not strict (the heartbeat): claims in any case and
 * returns {1, the rate in force}, which is lower than the caller's if another process asked for less.
 */
export const CLAIM = `${NOW}${HOLDERS}
local rate, holder, ttl, strict = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4] == '1'
local lowest, text = rateInForce()
if strict and lowest ~= nil and lowest ~= tonumber(rate) then return {0, text} end
hold(rate, holder, ttl)
if lowest == nil or tonumber(rate) < lowest then text = rate end
return {1, text}
`;

/** ARGV: rate, process id. The process stopped: its claim ends now. */
export const RELEASE = `
redis.call('ZREM', KEYS[6], ARGV[1] .. '/' .. ARGV[2])
return 1
`;

/**
 * ARGV: limit (the caller's, lower than its rate's after a slow-down), extraMs (what the caller
 * adds to its rate's window: margin, widening, lateness), smooth (1/0), leadMs, leaseMs, slot id,
 * catch-up share (see engine/rate-limiter.ts CATCH_UP), rate, process id, claim ttl ms.
 * The limit and window are those of the rate in force (see above), at most the caller's limit.
 * Returns {1, waitMs, rate} when granted (the request may leave waitMs from now: its notBefore),
 * or {0, waitMs, rate} when the caller should ask again in about waitMs − leadMs.
 */
export const GRANT = `${NOW}${HOLDERS}
local log, pending, pause, epoch, plan = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local callerLimit, extra, smooth = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1'
local lead, lease, id, catchUp = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])

-- Whoever asks for a slot holds the key: after Redis lost its memory, the first grant of each
-- process makes its rate count again.
hold(ARGV[8], ARGV[9], tonumber(ARGV[10]))
local rate, rateText = rateInForce()
local limit = math.min(callerLimit, math.max(1, math.floor(rate)))
local window = (rate >= 1 and 1000 or math.ceil(1000 / rate)) + extra

-- A store without its epoch marker is new, or was restarted or flushed: requests granted before
-- it lost its memory may still be arriving, so nobody gets a slot for one window.
if redis.call('EXISTS', epoch) == 0 then
  redis.call('SET', epoch, tostring(now), 'PX', 86400000)
  local until_ = now + window
  local current = tonumber(redis.call('GET', pause) or '0')
  if until_ > current then redis.call('SET', pause, tostring(until_), 'PX', math.ceil(window * 2)) end
end

-- A slot whose holder never reported its departure (crashed, or lost Redis meanwhile) counts as
-- having left at the end of its lease.
local stale = redis.call('ZRANGEBYSCORE', pending, '-inf', now - lease, 'WITHSCORES')
for i = 1, #stale, 2 do
  redis.call('ZREM', pending, stale[i])
  redis.call('ZADD', log, tonumber(stale[i + 1]) + lease, stale[i])
end
redis.call('ZREMRANGEBYSCORE', log, '-inf', now - window)

-- Departures ascending, then pending slots, each counted as leaving at max(now, its notBefore).
local times = {}
local departed = redis.call('ZRANGE', log, 0, -1, 'WITHSCORES')
for i = 2, #departed, 2 do times[#times + 1] = tonumber(departed[i]) end
local held = redis.call('ZRANGE', pending, 0, -1, 'WITHSCORES')
for i = 2, #held, 2 do times[#times + 1] = math.max(now, tonumber(held[i])) end
table.sort(times)

local wait = 0
local n = #times
if n >= limit then wait = math.max(wait, times[n - limit + 1] + window - now) end
if smooth then
  -- Planned spacing after the last grant; at least a share of it after the last actual departure.
  local spacing = window / limit
  local planned = tonumber(redis.call('GET', plan) or '0')
  wait = math.max(wait, planned + spacing - now)
  if n > 0 then wait = math.max(wait, times[n] + spacing * catchUp - now) end
end
wait = math.max(wait, tonumber(redis.call('GET', pause) or '0') - now)
if wait > lead then return {0, tostring(wait), rateText} end

wait = math.max(wait, 0)
redis.call('ZADD', pending, now + wait, id)
local ttl = math.ceil(window + lease + 1000)
redis.call('SET', plan, tostring(now + wait), 'PX', ttl)
redis.call('PEXPIRE', log, ttl)
redis.call('PEXPIRE', pending, ttl)
redis.call('PEXPIRE', epoch, 86400000)
return {1, tostring(wait), rateText}
`;

/** ARGV: slot id. The request left now: move it from pending to the log (later wins, never earlier). */
export const DEPART = `${NOW}
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[1], 'GT', now, ARGV[1])
return 1
`;

/** ARGV: slot id. Nothing was sent on it. */
export const CANCEL = `
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`;

/** ARGV: delay ms. Nobody is granted anything until now + delay (a 429's Retry-After, for everyone). */
export const PAUSE = `${NOW}
local until_ = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[3]) or '0')
if until_ > current then redis.call('SET', KEYS[3], tostring(until_), 'PX', math.ceil(tonumber(ARGV[1]) + 1000)) end
return 1
`;
