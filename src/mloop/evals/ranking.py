"""Ranking metrics per query, vectorised over every query at once.

Rows are sorted once by (query, score descending); a row's rank is its position within its
query. Per query:

- ``ndcg@k``: DCG of the top k with linear gains ``rel / log2(rank + 2)`` over the DCG of
  the ideal order (scikit-learn's ``ndcg_score``; a query whose relevances are all 0
  scores 0);
- ``map@k``: average precision of the top k, ``sum(P@i * relevant_i) / min(k, relevant)``
  (0 without relevant rows);
- ``mrr``: 1 / rank of the first relevant row (0 without one);
- ``precision@k``: relevant rows in the top k over k.

A row is relevant when its relevance is above 0. ``k`` None means every row of the query.
Scores tied within a query keep the rows' order in the data.
"""

from __future__ import annotations

import numpy as np


def _ranks(groups: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The order sorting rows by (group, score descending) and each sorted row's rank."""
    order = np.lexsort((-scores, groups))
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    first = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    return order, np.arange(len(order)) - first


def query_values(
    base: str, k: int | None, relevance: np.ndarray, scores: np.ndarray, groups: np.ndarray | None
) -> np.ndarray:
    """The metric of each query (indexed by group code 0..q-1)."""
    if groups is None:  # pragma: no cover - a ranking suite always has a group column
        raise ValueError("ranking metrics need a group per row")
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    order, rank = _ranks(groups, scores)
    g = groups[order]
    rel = relevance[order].astype(np.float64)
    hit = (rel > 0).astype(np.float64)
    top = rank < k if k is not None else np.ones(len(rank), dtype=bool)
    if base == "ndcg":
        dcg = np.bincount(
            g, weights=np.where(top, rel / np.log2(rank + 2), 0.0), minlength=n_groups
        )
        ideal_order, ideal_rank = _ranks(groups, relevance.astype(np.float64))
        ideal_rel = relevance[ideal_order].astype(np.float64)
        ideal_top = ideal_rank < k if k is not None else np.ones(len(ideal_rank), dtype=bool)
        idcg = np.bincount(
            groups[ideal_order],
            weights=np.where(ideal_top, ideal_rel / np.log2(ideal_rank + 2), 0.0),
            minlength=n_groups,
        )
        return np.divide(dcg, idcg, out=np.zeros(n_groups), where=idcg > 0)
    if base == "precision":
        assert k is not None
        return np.bincount(g, weights=np.where(top, hit, 0.0), minlength=n_groups) / k
    if base == "mrr":
        first = np.full(n_groups, np.inf)
        np.minimum.at(first, g[hit > 0], rank[hit > 0])
        return np.where(np.isfinite(first), 1.0 / (first + 1), 0.0)
    # map: the running count of relevant rows within each query
    cumulative = np.cumsum(hit)
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    sizes = np.diff(np.r_[starts, len(g)])
    before_query = np.repeat(cumulative[starts] - hit[starts], sizes)
    precision_at = (cumulative - before_query) / (rank + 1)
    summed = np.bincount(g, weights=np.where(top, precision_at * hit, 0.0), minlength=n_groups)
    relevant = np.bincount(g, weights=hit, minlength=n_groups)
    denominator = np.minimum(relevant, k) if k is not None else relevant
    return np.divide(summed, denominator, out=np.zeros(n_groups), where=denominator > 0)
