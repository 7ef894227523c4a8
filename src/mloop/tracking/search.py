"""Run search: the filter and order-by language, and its translation to SQL.

The language follows MLflow's search syntax.

A filter is one or more clauses joined by ``AND`` (``OR`` and parentheses are refused)::

    metrics.auc > 0.9 and params.model = 'xgb' and tags."team name" LIKE 'vision%'
    status IN ('FINISHED', 'RUNNING') and attributes.start_time >= 1700000000000

Identifiers
    ``metrics.<key>``, ``params.<key>``, ``tags.<key>`` and ``attributes.<name>``; the
    prefixes also have the synonyms ``metric``, ``param``, ``parameter(s)``, ``tag``,
    ``attribute``, ``attr`` and ``run``. A bare key is made of letters, digits and
    ``_ . - / :``; any other key is quoted with backticks or double quotes
    (``metrics."val loss"``, ``params.`model type```), a quote inside being written twice.
    Keys are case-sensitive; prefixes, attribute names and keywords are not.
    Attributes may be written without prefix: ``status``, ``run_name`` (or ``name``),
    ``run_id``, ``user_id``, ``start_time`` (or ``created``), ``end_time``,
    ``parent_run_id``, ``experiment_id``.

Values
    Numbers: ``1``, ``-2.5``, ``.5``, ``1e-3``. Strings: single or double quotes; a quote
    of the same kind inside is written twice (``'it''s'``); a backslash is an ordinary
    character in the string (it only means something inside LIKE patterns, see below).
    Tuples for IN / NOT IN: ``('a', 'b')``, at least one element, trailing comma allowed.

Operators and meaning
    * Metrics compare the run's latest value numerically with ``= != < <= > >=``; the run
      must have the metric. A NaN latest value matches no comparison, ``!=`` included.
      ``IS NULL`` matches runs that never logged the key; ``IS NOT NULL`` runs that did
      (a NaN value counts as logged).
    * Params and tags are strings: ``= != LIKE ILIKE IN NOT IN`` (the run must have the key,
      so ``!=`` and ``NOT IN`` skip runs lacking it) and ``IS NULL`` / ``IS NOT NULL``
      (key absent / present).
    * ``start_time`` and ``end_time`` are numbers (epoch milliseconds); the other attributes
      are strings. ``end_time`` and ``parent_run_id`` also allow ``IS NULL`` and
      ``IS NOT NULL``. ``experiment_id`` allows ``= != IN NOT IN`` with integer values,
      quoted or not.
    * ``LIKE`` is case-sensitive and ``ILIKE`` case-insensitive on every database. In
      patterns ``%`` matches any run of characters, ``_`` one character, and a backslash
      makes the next character literal (``'50\\%'``).

Order by
    Items such as ``metrics.auc DESC``, ``params.lr``, ``attributes.start_time ASC``,
    ``run_name``; ascending by default. Runs without the metric, param or tag sort last
    whatever the direction (for metrics: numbers, then NaN, then missing). Every ordering
    ends with ``start_time DESC, run_id ASC`` so pages are stable.

Errors raise :class:`~mloop.core.errors.ValidationError` with ``field="filter"`` or
``field="order_by"`` and a message giving the problem and its 0-based character position.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from sqlalchemy import Select

from mloop.core.errors import ValidationError
from mloop.tracking.search_parser import (
    MAX_FILTER_LENGTH,
    MAX_ORDER_BY_ITEMS,
    parse_filter,
    parse_order_by,
)
from mloop.tracking.search_sql import select_runs
from mloop.tracking.search_terms import Clause, Kind, OrderKey

__all__ = [
    "MAX_FILTER_LENGTH",
    "MAX_ORDER_BY_ITEMS",
    "Clause",
    "Kind",
    "Lifecycle",
    "OrderKey",
    "build_run_query",
    "parse_filter",
    "parse_order_by",
]

Lifecycle = Literal["active", "deleted", "all"]


def build_run_query(
    *,
    experiment_ids: list[int],
    filter_string: str | None,
    order_by: list[str] | None,
    lifecycle: Lifecycle = "active",
) -> Select[Any]:
    """``SELECT runs.run_id`` for the experiments, lifecycle, filter and order given.

    The order ends with ``start_time DESC, run_id ASC`` so results are deterministic; the
    caller adds LIMIT and OFFSET.
    """
    if lifecycle not in get_args(Lifecycle):
        raise ValidationError(
            f"lifecycle must be one of active, deleted, all; got {lifecycle!r}",
            field="lifecycle",
        )
    clauses = parse_filter(filter_string)
    keys = parse_order_by(order_by)
    return select_runs(
        experiment_ids=experiment_ids, clauses=clauses, keys=keys, lifecycle=lifecycle
    )
