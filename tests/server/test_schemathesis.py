"""Schema conformance: schemathesis runs every documented operation of mloop's API.

What ``schemathesis run`` does (all phases, all checks) through its engine, in process over
ASGI, with a bounded number of examples per operation; derandomized in CI so that a failure
reproduces. The gateway's ``/v1`` routes are left out: they answer OpenAI's error shape and
are documented as OpenAI documents them, and tests/llm/gateway covers them.

A request the document calls valid must not get a 400: the request models state the rules
the server checks (``mloop.core.fields``). The few rules JSON Schema cannot state are listed
in :data:`EXEMPT_400`, by operation and field, each with its reason; a 400 is accepted only
there, and only when the error names that field.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

from mloop.server.app import create_app
from mloop.store.runtime import Runtime

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
MAX_EXAMPLES = 5
# What a schema-valid request may get: success, or one of the documented errors.
SCHEMA_VALID_STATUSES = ["2XX", "401", "403", "404", "409"]

PAGE_TOKEN = "a page token must be one the server issued (an opaque offset)"
# A contract's problems name the key inside the contract, so they are matched by message.
CONTRACT_YAML = "the YAML must parse as a data contract"
POLICY_CONTRACT = "message:<policy contract>"
# Inside free-form JSON (a profile, a report) the server wants an int, and JSON Schema's
# integer also admits 3.0.
INTEGER_SPELLING = "it must be written as an integer (3, not 3.0), which JSON Schema allows"
# The stateful phase deletes what it created, and a deleted run or experiment takes no new
# data until restored: a rule about what is stored, not about the request's shape.
DELETED_RUN = "the run must not be deleted"
END_TIME = "end_time must not be before the run's start_time (another field, or the stored run)"
# Feature definitions refer to each other by name: rules across items and lists.
FEATURE_DEFINITIONS = {
    "entities.*": "join keys must be unique (across items)",
    "sources.*": "each kind of source needs its own field (path, dataset or query)",
    "feature_views.*": "features must be unique, and none a join key (the entities, another list)",
    "on_demand.*": "features must be unique; a Python function's reference (two fields)",
    "feature_services.*": "one feature name must not come from two views (across items)",
}
# A review answer fits its queue (stored state): one of its choices or free text, one label
# per row of a multi-row case, a rating within its scale; unique reviewer names.
ANSWER_LABEL = "the queue's choices, or free text where it takes it; one per row (stored)"
ANSWER_RATING = "1 to the queue's rating_scale, where it has one (stored state)"
REVIEWERS = "names are unique (across items) and not blank"
# Rules JSON Schema cannot state: operation label -> {field the 400 names: why}. The fields'
# descriptions in the document say the same. ``name.*`` is any field under ``name``;
# ``message:<prefix>`` is an error whose message starts so.
EXEMPT_400: dict[str, dict[str, str]] = {
    "POST /api/v1/runs/create": {"experiment_id": "the experiment must not be deleted"},
    "POST /api/v1/runs/search": {
        "filter": "the filter must parse in the search language",
        "order_by": "each item must parse as an order_by clause",
        "page_token": PAGE_TOKEN,
    },
    "POST /api/v1/runs/update": {"run_id": DELETED_RUN, "end_time": END_TIME},
    "POST /api/v1/runs/log-batch": {
        "run_id": DELETED_RUN,
        "end_time": END_TIME,
        "metric_columns": "its four columns must have the same length",
    },
    "POST /api/v1/runs/set-tag": {"run_id": DELETED_RUN},
    "POST /api/v1/runs/delete-tag": {"run_id": DELETED_RUN},
    "POST /api/v1/runs/log-inputs": {"run_id": DELETED_RUN},
    "PUT /api/v1/artifacts/files/{run_id}/{path}": {"run_id": DELETED_RUN},
    "GET /api/v1/metrics/history": {"page_token": PAGE_TOKEN},
    "GET /api/v1/registry/registered-models/list": {"page_token": PAGE_TOKEN},
    "GET /api/v1/registry/model-versions/list": {"page_token": PAGE_TOKEN},
    "POST /api/v1/registry/model-versions/create": {
        "source": "the run's artifacts at source must hold a logged model",
        "run_id": "run_id must be the run that source names (another field)",
    },
    "GET /api/v1/datasets/list": {"page_token": PAGE_TOKEN},
    "GET /api/v1/datasets/versions/list": {"page_token": PAGE_TOKEN},
    "GET /api/v1/datasets/validations/list": {"page_token": PAGE_TOKEN},
    "POST /api/v1/datasets/policy/set": {POLICY_CONTRACT: CONTRACT_YAML},
    "POST /api/v1/datasets/validations/create": {
        POLICY_CONTRACT: CONTRACT_YAML,
        "validation.report.contract_version": INTEGER_SPELLING,
        "validation.report.summary.errors": INTEGER_SPELLING,
        "validation.report.summary.warnings": INTEGER_SPELLING,
        "validation.contract_digest": "it must be the digest of contract_yaml (another field)",
        "validation.report.passed": "it must agree with report.summary.errors (another field)",
    },
    "POST /api/v1/datasets/versions/create": {
        "upload_id": "the upload must have been made for this name and digest (stored state)",
        "dataset_schema": "column names must be unique (a rule across items)",
        "profile.format_version": INTEGER_SPELLING,
        "profile.row_count": "it must equal row_count (another field)",
        "profile.columns": "they must name dataset_schema's columns, in order (another field)",
        POLICY_CONTRACT: CONTRACT_YAML,
        "validations.report.contract_version": INTEGER_SPELLING,
        "validations.report.summary.errors": INTEGER_SPELLING,
        "validations.report.summary.warnings": INTEGER_SPELLING,
        "validations.contract_digest": "it must be the digest of contract_yaml (another field)",
        "validations.report.passed": "it must agree with report.summary.errors",
    },
    "PUT /api/v1/datasets/uploads/{name}/{digest}": {
        "digest": "the body's sha256 must be digest",
        "body": "the body must be a Parquet file",
    },
    "GET /api/v1/serving/endpoints/list": {"page_token": PAGE_TOKEN},
    "POST /api/v1/serving/deploy": {
        "rollout.*": "rules across fields: thresholds per rule kind, increasing ramp steps",
        "rollout": "a rollout ramps a canary only",
        "variants": "the strategy decides the roles, weights and count of variants",
        "variants.*": "the strategy decides the roles and weights of variants",
        "model": "the model version must exist and load (stored state)",
        "alias": "the alias must point at a version (stored state)",
    },
    "POST /api/v1/serving/weights": {
        "weights": "the weights must name the live variants and add up to 100 (stored state)",
        "endpoint": "the endpoint must have a live deployment (stored state)",
    },
    "POST /api/v1/serving/promote": {
        "variant": "the live deployment must have that candidate (stored state)",
        "endpoint": "the endpoint must have a live deployment (stored state)",
    },
    "POST /api/v1/serving/rollback": {
        "endpoint": "there must be a deployment to roll back to (stored state)",
    },
    "GET /api/v1/serving/compare": {"since": "since must be before until (two fields)"},
    "POST /api/v1/serving/routes/rollouts/start": {
        "target": "exactly one of target and prompt, written provider/model (two fields)",
        "prompt": "a label must be named: name@label",
        "prompt_version": "it goes with prompt, and differs from the label's (stored state)",
        "ramp": "a ramp plan, rules or both (two fields)",
        "ramp.*": "increasing steps that end at 100 (a rule across items)",
        "rules.*": "thresholds per rule kind; the call log answers error_rate and latency",
    },
    "GET /api/v1/alerts/list": {"page_token": PAGE_TOKEN},
    "GET /api/v1/monitoring/monitors/list": {"page_token": PAGE_TOKEN},
    "POST /api/v1/monitoring/monitors/create": {
        "reference.*": "each kind of reference needs its own fields; until after since",
        "columns": "the live model's signature names the inputs, or columns must (stored)",
        "columns.*": "a watched column must not have a window column's name",
        "drift.*": "overrides must name watched columns (two fields)",
        "endpoint": "exactly one of endpoint, dataset and gateway (three fields)",
        "fairness": "a gateway monitor has no predictions to audit (two fields)",
        "contract": "exactly one of dataset and yaml; it must check a watched column",
        "contract.*": "the YAML must parse as a contract; the dataset must have a policy",
    },
    "POST /api/v1/monitoring/monitors/run": {
        "until": "until must be after since (two fields)",
        "since": "at most 1,000 windows at once (two fields)",
    },
    "POST /api/v1/alerts/evaluate": {
        "window_end": "window_end must not be before window_start (two fields)",
    },
    "POST /api/v1/features/apply": FEATURE_DEFINITIONS,
    "POST /api/v1/features/apply/admin": FEATURE_DEFINITIONS,
    "GET /api/v1/features/definitions/list": {"page_token": PAGE_TOKEN},
    "POST /api/v1/features/profiles/store": {
        "profile": "it must be a dataset profile, with its columns (free-form JSON)",
    },
    "GET /api/v1/prompts/list": {"page_token": PAGE_TOKEN},
    "GET /api/v1/prompts/versions/list": {"page_token": PAGE_TOKEN},
    "GET /api/v1/prompts/versions/get": {"version": "the prompt must have a version (stored)"},
    "POST /api/v1/prompts/versions/create": {
        "template": "exactly one of messages and text (two fields), and at most 1 MiB as JSON",
        "variables.*": "templates must use only declared variables; defaults have their type",
        "output_schema.*": "it must be a valid JSON Schema",
        "output_schema": "it must be a valid JSON Schema",
    },
    "POST /api/v1/prompts/render": {
        "ref": "the prompt must have a version (stored state)",
        "variables": "the variables must satisfy the version's declared ones (stored state)",
    },
    "POST /api/v1/review/queues/create": {
        "choices": "choices, free_text or rating_scale must give something to answer (three "
        "fields); choices are unique (across items) strings, numbers or booleans",
        "rating_scale": "0 (no rating) or 2 to 10: a scale of one value rates nothing",
        "reviewers": REVIEWERS,
    },
    "POST /api/v1/review/queues/update": {"reviewers": REVIEWERS},
    "POST /api/v1/review/items/add": {
        "items": "an item's imported answers are by different reviewers (across items)",
        "items.answers.label": ANSWER_LABEL,
        "items.answers.rating": ANSWER_RATING,
    },
    "GET /api/v1/review/items/list": {"page_token": PAGE_TOKEN},
    "POST /api/v1/review/items/comment": {"text": "it must not be blank (spaces only)"},
    "POST /api/v1/review/items/submit": {"label": ANSWER_LABEL, "rating": ANSWER_RATING},
    "POST /api/v1/review/items/resolve": {"label": ANSWER_LABEL, "rating": ANSWER_RATING},
    "POST /api/v1/review/routing/set": {
        "fallback": "on_route 'fallback' needs a fallback (two fields)",
        "class_thresholds": "they go with the confidence criterion only (two fields)",
    },
    "POST /api/v1/automation/triggers/create": {
        "config": "the settings of the trigger's kind (two fields)",
        "config.*": "the settings of the trigger's kind (two fields)",
        "target": "exactly one of pipeline and policy (two fields)",
        "target.*": "package.module:function; a policy target takes no params (two fields)",
    },
    "POST /api/v1/automation/triggers/update": {
        "config": "the settings of the stored trigger's kind",
        "config.*": "the settings of the stored trigger's kind",
        "target": "exactly one of pipeline and policy (two fields)",
        "target.*": "package.module:function; a policy target takes no params (two fields)",
    },
    "POST /api/v1/automation/triggers/fire": {
        "payload": "at most 64 KiB as JSON, finite numbers",
        "payload.params": "a JSON object when given",
    },
    "POST /api/v1/automation/triggers/fire-policy": {
        "payload": "at most 64 KiB as JSON, finite numbers",
        "payload.params": "a JSON object when given",
    },
    "POST /api/v1/automation/jobs/add": {
        "kind": "a job kind named in JOB_KINDS",
        "payload": "at most 64 KiB as JSON, finite numbers",
        "dedup_key": "not blank",
        "concurrency_key": "not blank",
    },
    "GET /api/v1/automation/jobs/list": {
        "kind": "a job kind named in JOB_KINDS",
        "page_token": PAGE_TOKEN,
    },
    "POST /api/v1/automation/policies/create": {
        "rollout.*": "rules across fields: thresholds per rule kind, increasing ramp steps "
        "ending at 100",
        "rollout.ramp": "a policy's rollout needs a ramp (it is what promotes)",
        "params": "at most 64,000 bytes as JSON",
    },
    "POST /api/v1/automation/policies/update": {
        "rollout.*": "rules across fields: thresholds per rule kind, increasing ramp steps "
        "ending at 100",
        "rollout.ramp": "a policy's rollout needs a ramp (it is what promotes)",
        "params": "at most 64,000 bytes as JSON",
    },
    "POST /api/v1/automation/policies/run": {"payload.params": "a JSON object when given"},
    "POST /api/v1/evals/suites/register": {
        "dataset": "a dataset reference: name, name/3 or name@alias",
        "primary": "a metric of the suite's task, or a listed scorer (two fields)",
        "metrics": "no metric twice",
        "message:metrics[": "a metric of the suite's task, or a listed scorer (two fields)",
        "guards.*": "a metric of the suite's task, or a listed scorer (two fields)",
        "scorers": "no reference twice",
        "message:scorers[": "module:function",
        "group": "ranking suites and only they have a group (two fields)",
        "method": "mcnemar needs task classification and primary accuracy (three fields)",
        "fairness": "fairness constraints need task classification (two fields)",
        "positive_label": "a string, number or boolean",
        "message:fairness[": "a positive label is a string, number or boolean",
        "message:slices[": "exactly one of value, values or bins; increasing bins; unique "
        "names; a metric of the task (across fields)",
        "features": "not empty, and not the target or group (across fields)",
    },
    "POST /api/v1/evals/gates/record": {
        "outcome": "same_version exactly when the champion is the candidate; no_champion "
        "without a champion (across fields)",
        "passed": "passed agrees with the outcome (two fields)",
    },
    "POST /api/v1/review/sampling/set": {
        "endpoint": "exactly one of endpoint and route (two fields)",
        "per_day": "exactly one of per_day and rate (two fields)",
    },
    "POST /api/v1/pipelines/runs/start": {
        "graph.*": "node ids are unique and each upstream names an earlier node (across nodes)",
    },
    "POST /api/v1/pipelines/runs/record": {
        "message:steps[": "each step names a node of the run's stored graph",
        "message:cache[": "an entry has inline JSON or an artifact path, not both (two fields)",
        "status": "a running run has no end_time or outputs (three fields)",
        "end_time": "the end is not before the run's stored start",
    },
}


def _matches(key: str, field: str, message: str) -> bool:
    """Whether an EXEMPT_400 key covers an error naming ``field`` and saying ``message``."""
    if key.startswith("message:"):
        return message.startswith(key.removeprefix("message:"))
    if key.endswith(".*"):
        return field.startswith(key[:-1])
    return field == key


@schemathesis.check
def exempt_400_names_its_field(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 400 to a schema-valid request is allowed only for a rule listed in EXEMPT_400."""
    meta = case.meta
    exempt = EXEMPT_400.get(case.operation.label)
    # Elsewhere positive_data_acceptance refuses every 400.
    if exempt is None or response.status_code != 400:
        return None
    if meta is None or not meta.generation.mode.is_positive:
        return None
    error = json.loads(response.content or b"{}").get("error", {})
    # ``order_by[2]`` is the order_by rule; ``datasets[0].name`` is not a datasets rule.
    field = re.sub(r"\[\d+\]", "", error.get("field") or "")
    if not any(_matches(key, field, error.get("message", "")) for key in exempt):
        raise AssertionError(
            f"a schema-valid request got 400 naming {field!r}, and that is not an exempted "
            f"field of {case.operation.label} ({sorted(exempt) or 'none'})"
        )
    return None


def _response_text(event: events.ScenarioFinished | events.FuzzScenarioFinished, case: str) -> str:
    """What the server answered to one case, to show next to a failure."""
    interaction = event.recorder.interactions.get(case)
    if interaction is None or interaction.response is None:
        return ""
    response = interaction.response
    return f"-> {response.status_code} {response.content[:500]!r}"


def _failures(event: events.EngineEvent) -> list[str]:
    """What went wrong in one engine event, as readable lines."""
    if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
        return [
            f"{event.recorder.label}: [{check.name}] {check.failure_info.failure.title}\n"
            f"{check.failure_info.failure.message}\n{check.failure_info.code_sample}\n"
            f"{_response_text(event, case)}"
            for case, checks in event.recorder.checks.items()
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
            "checks": {"positive_data_acceptance": {"expected-statuses": SCHEMA_VALID_STATUSES}},
            # Where a rule cannot be stated, a 400 is allowed (exempt_400_names_its_field
            # then checks that it is for that rule).
            "operations": [
                {
                    "include-name": label,
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": [*SCHEMA_VALID_STATUSES, "400"]
                        }
                    },
                }
                for label in EXEMPT_400
            ],
        }
    )
    app = create_app(runtime)
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app, config=config).exclude(
        path_regex="^/v1/"
    )
    failures: list[str] = []
    for event in from_schema(schema).execute():
        failures.extend(_failures(event))
    assert not failures, "\n\n".join(sorted(set(failures)))
