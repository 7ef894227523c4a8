"""Tables of the gateway's call log and its encrypted provider keys."""

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, String, Table, Text

from mloop.store.schema import metadata

# One row per gateway call (chat or embeddings), written by a background writer so the
# request never waits on the database. Tracing, evals and review read this table.
llm_calls = Table(
    "llm_calls",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("time", BigInteger, nullable=False),  # ms since the epoch, when the call arrived
    Column("endpoint", String(32), nullable=False),  # chat | embeddings
    Column("route", String(256), nullable=True),  # None when the request named a provider model
    Column("provider", String(128), nullable=True),  # the provider that answered
    Column("model", String(256), nullable=True),
    Column("requested_model", String(256), nullable=False),
    Column("prompt_name", String(256), nullable=True),
    Column("prompt_version", Integer, nullable=True),
    Column("token_name", String(256), nullable=False, default=""),
    Column("project", String(256), nullable=False, default="default"),
    Column("status", String(16), nullable=False),  # ok | error | blocked
    Column("error_code", String(64), nullable=True),
    Column("error_message", Text, nullable=True),
    Column("http_status", Integer, nullable=False),
    Column("stream", Boolean, nullable=False, default=False),
    Column("input_tokens", BigInteger, nullable=False, default=0),
    Column("output_tokens", BigInteger, nullable=False, default=0),
    Column("cached_input_tokens", BigInteger, nullable=False, default=0),
    Column("cache_write_tokens", BigInteger, nullable=False, default=0),
    # USD; float for aggregation, the exact decimal string alongside.
    Column("cost_usd", Float, nullable=False, default=0.0),
    Column("cost_exact", String(64), nullable=False, default="0"),
    # miss | exact | semantic | bypass | off
    Column("cache", String(16), nullable=False, default="miss"),
    # USD a cache hit saved: the cost of the call that filled the entry.
    Column("saved_usd", Float, nullable=False, default=0.0),
    Column("latency_ms", Float, nullable=False),
    Column("ttft_ms", Float, nullable=True),
    Column("retries", Integer, nullable=False, default=0),
    Column("fallbacks", Integer, nullable=False, default=0),
    Column("attempts_json", Text, nullable=False, default="[]"),
    Column("guardrails_json", Text, nullable=False, default="[]"),
    Column("capture", String(16), nullable=False, default="none"),
    Column("request_json", Text, nullable=True),
    Column("response_json", Text, nullable=True),
    Column("metadata_json", Text, nullable=False, default="{}"),
    Index("ix_llm_calls_time", "time"),
    Index("ix_llm_calls_route_time", "route", "time"),
    Index("ix_llm_calls_token_time", "token_name", "time"),
    Index("ix_llm_calls_project_time", "project", "time"),
)

# Provider keys set with `mloop gateway secrets set`, encrypted with the server's secret key
# (Fernet). Only names and times are ever listed.
llm_secrets = Table(
    "llm_secrets",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("ciphertext", Text, nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
)
