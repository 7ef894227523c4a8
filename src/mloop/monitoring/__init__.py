"""Monitoring: compare windows of an event log or dataset with a reference, and alert.

The statistics live in subpackages that know nothing of storage: ``drift`` (per-column
reference summaries and drift tests), ``performance`` (metrics on labelled outcomes and
estimates before labels arrive) and ``fairness`` (group metrics for bias audits).
"""
