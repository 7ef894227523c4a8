"""The online store at scale: Redis, shared by every server replica and writer.

Each entity key of a view is one hash, ``<prefix>:<view>:<key>``, whose fields are the
features (each value JSON-encoded, so 1, 1.0, "1" and null stay apart) plus ``\\0ts``
(the event time, µs) and ``\\0cr`` (the created time, µs, or empty; feature names never
hold NUL). A write runs a small Lua script over a few hundred rows that replaces each hash
only when its row is at least as new as the stored one, so concurrent writers (a
materialization and a push) cannot let an older row win; a batch's calls go in one
pipeline. A read of one key is one ``HMGET``; of many, a script runs their ``HMGET`` and
answers one JSON text (one reply to parse instead of one per value). The kinds of each
view's keys are the hash ``<prefix>:_views`` (view names never start with ``_``).

``key_prefix`` (default ``mloop:online``; also ``?key_prefix=P`` in the URL) lets several
installations share one Redis. Redis errors (down, timeouts) become
:class:`ServiceUnavailableError` naming the store.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from mloop.core.errors import ServiceUnavailableError, ValidationError
from mloop.features.online.store import Found, KeyKind, OnlineStore, Row

# Feature names never hold NUL, so these field names cannot clash with a feature's.
_TS = "\x00ts"
# Rows of one feature list: ARGV = n, the n feature names, then per row (one per key of
# KEYS) its event time, created time ("" for none) and n JSON values. A row replaces its
# key's hash only when at least as new as the stored one.
_WRITE = r"""
local n = tonumber(ARGV[1])
local kept = 0
local p = n + 2
for i = 1, #KEYS do
  local ts, cr = ARGV[p], ARGV[p + 1]
  local cur = redis.call('HMGET', KEYS[i], '\0ts', '\0cr')
  local newer = true
  if cur[1] then
    local t, old = tonumber(ts), tonumber(cur[1])
    if t < old then
      newer = false
    elseif t == old and (tonumber(cr) or -math.huge) < (tonumber(cur[2]) or -math.huge) then
      newer = false
    end
  end
  if newer then
    local fields = {'\0ts', ts, '\0cr', cr}
    for j = 1, n do
      fields[#fields + 1] = ARGV[1 + j]
      fields[#fields + 1] = ARGV[p + 1 + j]
    end
    redis.call('DEL', KEYS[i])
    redis.call('HSET', KEYS[i], unpack(fields))
    kept = kept + 1
  end
  p = p + 2 + n
end
return kept
"""
_SCRIPT_ROWS = 256  # rows per script call: Redis runs one call at a time
# Many keys' HMGETs in one call, answered as one JSON text ([[ts, v1, ...] or null, ...]):
# the values are JSON already, and one reply parses far faster than one per field.
_READ = r"""
local fields = {'\0ts'}
for j = 1, #ARGV do fields[j + 1] = ARGV[j] end
local out = {}
for i = 1, #KEYS do
  local v = redis.call('HMGET', KEYS[i], unpack(fields))
  if v[1] then
    for j = 1, #v do
      if not v[j] then v[j] = 'null' end
    end
    out[i] = '[' .. table.concat(v, ',') .. ']'
  else
    out[i] = 'null'
  end
end
return '[' .. table.concat(out, ',') .. ']'
"""
_READ_KEYS = 1000  # keys per script call
_SCAN_COUNT = 1000


class RedisOnlineStore(OnlineStore):
    """Online rows in Redis (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str = "mloop:online",
        socket_timeout_s: float = 5.0,
        max_connections: int = 64,
    ) -> None:
        import redis

        url, key_prefix = _prefix_from(url, key_prefix)
        self.url = url
        self.prefix = key_prefix
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout_s,
            socket_connect_timeout=socket_timeout_s,
            max_connections=max_connections,
        )
        self._write_script = self._client.register_script(_WRITE)
        self._read_script = self._client.register_script(_READ)
        self._views = f"{key_prefix}:_views"

    @contextmanager
    def _errors(self) -> Iterator[None]:
        from redis.exceptions import RedisError

        try:
            yield
        except RedisError as exc:
            where = self._client.connection_pool.connection_kwargs
            raise ServiceUnavailableError(
                f"the online store (Redis at {where.get('host')}:{where.get('port')}) failed: "
                f"{type(exc).__name__}: {exc}",
                field="online_store",
            ) from exc

    def _name(self, view: str, key: bytes) -> bytes:
        return f"{self.prefix}:{view}:".encode() + key

    def write(self, view: str, rows: Sequence[Row]) -> int:
        groups: dict[tuple[str, ...], list[Row]] = {}
        for r in rows:
            groups.setdefault(tuple(r.values), []).append(r)
        dumps = orjson.dumps
        kept = 0
        with self._errors():
            pipe = self._client.pipeline(transaction=False)
            for names, group in groups.items():
                for start in range(0, len(group), _SCRIPT_ROWS):
                    part = group[start : start + _SCRIPT_ROWS]
                    args: list[Any] = [len(names), *names]
                    for r in part:
                        args += [r.event_us, "" if r.created_us is None else r.created_us]
                        args += [dumps(v) for v in r.values.values()]
                    keys = [self._name(view, r.key) for r in part]
                    self._write_script(keys=keys, args=args, client=pipe)
            kept = sum(int(x) for x in pipe.execute())
        return kept

    def read(self, view: str, keys: Sequence[bytes], features: Sequence[str]) -> list[Found | None]:
        return self.read_views([(view, keys, features)])[0]

    def read_views(
        self, requests: Sequence[tuple[str, Sequence[bytes], Sequence[str]]]
    ) -> list[list[Found | None]]:
        with self._errors():
            if len(requests) == 1 and len(requests[0][1]) == 1:
                view, keys, features = requests[0]
                raw = self._client.hmget(self._name(view, keys[0]), [_TS, *features])
                return [[_found(raw)]]
            pipe = self._client.pipeline(transaction=False)
            for view, keys, features in requests:
                for start in range(0, len(keys), _READ_KEYS):
                    names = [self._name(view, k) for k in keys[start : start + _READ_KEYS]]
                    self._read_script(keys=names, args=list(features), client=pipe)
            replies = iter(pipe.execute())
        found: list[list[Found | None]] = []
        for _, keys, _ in requests:
            rows: list[Any] = []
            for _ in range(0, len(keys), _READ_KEYS):
                rows += orjson.loads(next(replies))
            found.append([None if r is None else Found(int(r[0]), r[1:]) for r in rows])
        return found

    def _scan(self, view: str) -> Iterator[list[bytes]]:
        batch: list[bytes] = []
        pattern = f"{_glob_escape(self.prefix)}:{_glob_escape(view)}:*"
        for name in self._client.scan_iter(match=pattern, count=_SCAN_COUNT):
            batch.append(name)
            if len(batch) >= _SCAN_COUNT:
                yield batch
                batch = []
        if batch:
            yield batch

    def delete_view(self, view: str) -> int:
        removed = 0
        with self._errors():
            for batch in self._scan(view):
                removed += int(self._client.unlink(*batch))
            self._client.hdel(self._views, view)
        return removed

    def key_kinds(self, view: str) -> list[KeyKind] | None:
        with self._errors():
            raw = self._client.hget(self._views, view)
        return None if raw is None else list(orjson.loads(raw))

    def set_key_kinds(self, view: str, kinds: Sequence[KeyKind]) -> None:
        with self._errors():
            self._client.hset(self._views, view, orjson.dumps(list(kinds)))

    def count(self, view: str) -> int:
        with self._errors():
            return sum(len(batch) for batch in self._scan(view))

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"RedisOnlineStore({self.url!r}, key_prefix={self.prefix!r})"


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "\\*?[]" else c for c in text)


def _prefix_from(url: str, default: str) -> tuple[str, str]:
    """``redis://host/0?key_prefix=P``: the URL without the parameter, and the prefix."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefixes = [v for k, v in query if k == "key_prefix"]
    if not prefixes:
        return url, default
    if not prefixes[-1]:
        raise ValidationError("key_prefix in the online store's URL is empty", field="online_store")
    rest = urlencode([(k, v) for k, v in query if k != "key_prefix"])
    return urlunsplit(parts._replace(query=rest)), prefixes[-1]


def _found(raw: Sequence[Any]) -> Found | None:
    if raw[0] is None:
        return None
    return Found(int(raw[0]), [None if v is None else orjson.loads(v) for v in raw[1:]])
