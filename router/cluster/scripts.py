"""The Lua scripts a replica runs on Redis: each is one atomic step on the routing lock or the change log."""

from __future__ import annotations

# numbering and appending in one step, so entries are numbered without gaps in the order they were appended
# (and clearing this decision's in-flight mark, if it is still this decision's)
APPEND = """
local seq = redis.call('INCR', KEYS[1])
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'seq', seq, 'change', ARGV[2])
if redis.call('GET', KEYS[3]) == ARGV[3] then redis.call('DEL', KEYS[3]) end
return {seq, id}
"""
# The routing lock, taken in turns: a replica that held it last does not take it again while another replica has
# been waiting for it (within the last WAITING_MS), so a busy replica deciding back to back cannot starve the other
# one (with plain SET NX polling it could: its next decision is ready the instant it releases, while the other
# replica's poll comes up to one interval later -- the multi-second lock waits of the two-replica load bench).
ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[3], ARGV[3], now)
  redis.call('PEXPIRE', KEYS[3], 60000)
  return 0
end
if redis.call('GET', KEYS[2]) == ARGV[3] then
  local waiting = redis.call('HGETALL', KEYS[3])
  for i = 1, #waiting, 2 do
    if waiting[i] ~= ARGV[3] and tonumber(waiting[i + 1]) > now - tonumber(ARGV[4]) then
      redis.call('HSET', KEYS[3], ARGV[3], now)
      return 0
    end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
redis.call('HDEL', KEYS[3], ARGV[3])
return 1
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
WAITING_MS = 50
CLEAR_MARK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
