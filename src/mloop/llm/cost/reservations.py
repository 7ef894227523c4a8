"""Budget reservations: what a call holds against its budgets while it runs.

At admission a call reserves its estimated cost on every budget counter it counts against,
in one atomic step that first checks that each ``block`` budget can cover it (spend so far,
plus what calls in progress hold, plus this estimate). When the call ends it settles: the
reservation is released and the actual cost added. A call that fails releases its
reservation; its cost, if the provider reported usage, is added.

In memory the step runs under one lock (:class:`~mloop.llm.cost.budgets.BudgetGuard`); in
Redis it is one Lua script per admission and one per settlement, so replicas share both the
spend and the reservations. Each Redis reservation is an entry of a hash per counter,
``<prefix>:held:<period>:<window>:<scope>:<key>``, holding ``"<usd> <expires>"``: a replica
that dies during a call leaves an entry that the next admission drops once its lease is over
(the time is Redis's own, so replicas' clocks do not matter for it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # budgets imports this module
    from mloop.llm.cost.budgets import BudgetAlert

# (period, scope, key, window)
CounterKey = tuple[str, str, str, str]

# Float sums of cents are not exact: an estimate that fits to within this still fits.
TOLERANCE_USD = 1e-9


@dataclass
class Reservation:
    """One call's hold on its budget counters, from admission to settlement."""

    id: str
    counters: tuple[CounterKey, ...]
    amount_usd: float
    alerts: list[BudgetAlert] = field(default_factory=list)
    in_redis: bool = False
    settled: bool = False


# KEYS: spent_1, held_1, spent_2, held_2, ...
# ARGV: id, amount, lease seconds, then per counter: block limit ('' for none), expire-at.
# Returns {refused counter index or 0, spent_1, held_1, spent_2, held_2, ...} as strings;
# holds the amount on every counter only if no block limit refuses it.
RESERVE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local amount = tonumber(ARGV[2])
local n = #KEYS / 2
local out = {}
local refused = 0
for i = 1, n do
  local spent = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local held = 0
  local entries = redis.call('HGETALL', KEYS[2 * i])
  for j = 1, #entries, 2 do
    local value = entries[j + 1]
    local sep = string.find(value, ' ', 1, true)
    if tonumber(string.sub(value, sep + 1)) <= now then
      redis.call('HDEL', KEYS[2 * i], entries[j])
    else
      held = held + tonumber(string.sub(value, 1, sep - 1))
    end
  end
  out[2 * i] = string.format('%.17g', spent)
  out[2 * i + 1] = string.format('%.17g', held)
  local limit = ARGV[2 + 2 * i]
  if refused == 0 and limit ~= '' then
    local l = tonumber(limit)
    if spent + held >= l or spent + held + amount > l + tonumber(ARGV[4 + 2 * n]) then
      refused = i
    end
  end
end
out[1] = tostring(refused)
if refused == 0 then
  local expires = now + tonumber(ARGV[3])
  local entry = string.format('%.17g', amount) .. ' ' .. string.format('%.17g', expires)
  for i = 1, n do
    redis.call('HSET', KEYS[2 * i], ARGV[1], entry)
    redis.call('EXPIREAT', KEYS[2 * i], ARGV[3 + 2 * i])
  end
end
return out
"""

# KEYS: spent_1, held_1, ...; ARGV: id, cost, then the expire-at of each counter.
SETTLE_SCRIPT = """
local cost = tonumber(ARGV[2])
for i = 1, #KEYS / 2 do
  redis.call('HDEL', KEYS[2 * i], ARGV[1])
  if cost > 0 then
    redis.call('INCRBYFLOAT', KEYS[2 * i - 1], ARGV[2])
    redis.call('EXPIREAT', KEYS[2 * i - 1], ARGV[2 + i])
  end
end
return 1
"""
