package redis

import goredis "github.com/redis/go-redis/v9"

// Every script touches only KEYS[1], a hash {v, ver}, so each runs atomically on the one
// node that owns the key, including on Redis Cluster. Writing hash fields keeps the
// key's TTL, so only the scripts that (re)start a TTL call PEXPIRE.

// setNXScript: ARGV value, ttl ms. Returns 1 when stored, 0 when the key exists.
const setNXScript = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'ver', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`

// setScript: ARGV value, ttl ms. Returns the new version (1 for a new key).
const setScript = `
local ver = redis.call('HINCRBY', KEYS[1], 'ver', 1)
redis.call('HSET', KEYS[1], 'v', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return ver`

// getScript returns {value, version, pttl}, or nil when the key is absent.
const getScript = `
local e = redis.call('HMGET', KEYS[1], 'v', 'ver')
if not e[1] then return false end
return {e[1], e[2], redis.call('PTTL', KEYS[1])}`

// takeScript returns the value and deletes the key, or nil when the key is absent.
const takeScript = `
local v = redis.call('HGET', KEYS[1], 'v')
if v then redis.call('DEL', KEYS[1]) end
return v`

// casScript: ARGV expected version, value, ttl ms (0 keeps the expiry). Returns the new
// version, -1 on a version mismatch, nil when the key is absent.
const casScript = `
local ver = redis.call('HGET', KEYS[1], 'ver')
if not ver then return false end
if ver ~= ARGV[1] then return -1 end
ver = redis.call('HINCRBY', KEYS[1], 'ver', 1)
redis.call('HSET', KEYS[1], 'v', ARGV[2])
if ARGV[3] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return ver`

// notCounterReply is the error incrScript answers for a value that is not a count.
const notCounterReply = "NOTCOUNTER"

// incrScript: ARGV window ms. Returns the new count; the window starts only when the
// counter is created, so later increments keep its expiry (fixed window).
const incrScript = `
local v = redis.call('HGET', KEYS[1], 'v')
if v and not string.match(v, '^%-?%d+$') then
  return redis.error_reply('NOTCOUNTER value is not a counter')
end
local n = redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('HINCRBY', KEYS[1], 'ver', 1)
if not v then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`

type scripts struct {
	setNX, set, get, take, cas, incr *goredis.Script
}

func newScripts() scripts {
	return scripts{
		setNX: goredis.NewScript(setNXScript),
		set:   goredis.NewScript(setScript),
		get:   goredis.NewScript(getScript),
		take:  goredis.NewScript(takeScript),
		cas:   goredis.NewScript(casScript),
		incr:  goredis.NewScript(incrScript),
	}
}
