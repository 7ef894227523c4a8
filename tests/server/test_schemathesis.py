"""Schema conformance: schemathesis runs every documented operation of mloop's API.

What ``schemathesis run`` does (all phases, all checks) through its engine, in process over
ASGI, with a bounded number of examples per operation; derandomized in CI so that a failure
reproduces. The gateway's ``/v1`` routes are left out: they answer OpenAI's error shape and
are documented as OpenAI documents them, and tests/llm/gateway covers them.
"""

from __future__ import annotations

import os

import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

from mloop.server.app import create_app
from mloop.store.runtime import Runtime

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
MAX_EXAMPLES = 5
# What a schema-valid request may get: success, or one of the documented errors.
SCHEMA_VALID_STATUSES = ["2XX", "400", "401", "403", "404", "409"]


def _failures(event: events.EngineEvent) -> list[str]:
    """What went wrong in one engine event, as readable lines."""
    if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
        return [
            f"{event.recorder.label}: [{check.name}] {check.failure_info.failure.title}\n"
            f"{check.failure_info.failure.message}\n{check.failure_info.code_sample}"
            for checks in event.recorder.checks.values()
            for check in checks
            if check.failure_info is not None
        ]
    if isinstance(event, events.NonFatalError):
        return [f"{event.label}: {event.value!r}"]
    if isinstance(event, events.FatalError):
        return [f"fatal: {event.exception!r}"]
    if isinstance(event, events.EngineFinished):
        return [f"{f.title}: {f.message}" for f in event.failures]
    return []


def test_every_operation_conforms_to_the_document(runtime: Runtime) -> None:
    config = SchemathesisConfig.from_dict(
        {
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": IN_CI},
            # The server checks more than JSON Schema says (ids are 32 hex digits, page
            # tokens are ones it issued, contracts parse as YAML, names follow its rules)
            # and answers those with the documented 400 naming the field.
            "checks": {"positive_data_acceptance": {"expected-statuses": SCHEMA_VALID_STATUSES}},
        }
    )
    app = create_app(runtime)
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app, config=config)
    schema = schema.exclude(path_regex="^/v1/")
    failures: list[str] = []
    for event in from_schema(schema).execute():
        failures.extend(_failures(event))
    assert not failures, "\n\n".join(sorted(set(failures)))
