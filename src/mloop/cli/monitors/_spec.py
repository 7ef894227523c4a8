"""The request of ``mloop monitors create``: a spec file (YAML or JSON, the API's fields)
with the command line's options laid over it.

A file may write times and durations the way the options do (``since: 2026-05-28``,
``window_seconds: 1h``) and a dataset as ``dataset: credit-train@3``; they are turned into
the API's numbers here, so that the server sees one form. What the monitor watches (an
endpoint, a dataset or the gateway's calls) named on the command line replaces the file's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mloop.cli.monitors._parse import (
    parse_columns,
    parse_duration,
    parse_label,
    parse_time,
    split_dataset,
    usage_error,
)
from mloop.core.errors import NotFoundError

if TYPE_CHECKING:
    from mloop.client import Client

_REFERENCE_OPTIONS = (
    "--reference-dataset NAME[@VERSION], --reference-window SINCE UNTIL or --rolling N"
)
_TARGET_OPTIONS = (
    "--endpoint E (an endpoint's inference log), --dataset D with --time-column C (a dataset "
    "by event time), or --gateway, --route, --prompt, --model or --project (the LLM gateway's "
    "calls)"
)
_TARGETS = ("endpoint", "dataset", "gateway")
_GATEWAY_SCOPE = ("route", "prompt", "model", "project")


@dataclass
class CreateOptions:
    """The options of ``mloop monitors create`` as typed; None: not given."""

    endpoint: str | None = None
    dataset: str | None = None
    time_column: str | None = None
    prediction_column: str | None = None
    label_column: str | None = None
    reference_dataset: str | None = None
    reference_window: tuple[str, str] | None = None
    rolling: int | None = None
    window: str | None = None
    columns: list[str] = field(default_factory=list)
    sensitive: list[str] = field(default_factory=list)
    positive_label: str | None = None
    review_threshold: float | None = None
    schedule: bool | None = None
    delay: int | None = None
    description: str | None = None
    gateway: bool = False
    route: str | None = None
    prompt: str | None = None
    model: str | None = None
    project: str | None = None
    contract: Path | None = None
    contract_from: str | None = None

    def gateway_scope(self) -> dict[str, str]:
        """The gateway options given, as the request's ``gateway`` fields."""
        return {
            key: value
            for key, value in zip(
                _GATEWAY_SCOPE, (self.route, self.prompt, self.model, self.project), strict=True
            )
            if value is not None
        }

    def target_options(self) -> list[str]:
        """The options that name what the monitor watches, in the order of the targets."""
        given = []
        if self.endpoint is not None:
            given.append("--endpoint")
        if self.dataset is not None:
            given.append("--dataset")
        scope = self.gateway_scope()
        if self.gateway or scope:
            given.append("--gateway" if self.gateway else f"--{next(iter(scope))}")
        return given


def read_spec_file(path: Path) -> dict[str, Any]:
    """The mapping in a YAML or JSON file; a parse error names the file and line."""
    import yaml

    option = "--from-file"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        usage_error(f"{option}: cannot read {path}: {exc}", option)
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        usage_error(f"{option}: {path} is not valid JSON: {exc.msg} at line {exc.lineno}", option)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        usage_error(f"{option}: {path} is not valid YAML{where}", option)
    if not isinstance(data, dict):
        usage_error(
            f"{option}: {path} must hold a mapping of the monitor's fields (endpoint, "
            f"reference, window_seconds, columns...), not {type(data).__name__}",
            option,
        )
    return _normalised(data, path)


def read_contract_file(path: Path) -> str:
    """The text of the YAML contract at ``path``, refused (naming ``--contract``) when it
    cannot be read, is not UTF-8 text, is empty or is larger than a monitor keeps."""
    from mloop.monitoring.schemas import MAX_CONTRACT_CHARS

    option = "--contract"
    try:
        # One character past the limit is enough to know the file is too large.
        with path.open(encoding="utf-8") as handle:
            text = handle.read(MAX_CONTRACT_CHARS + 1)
    except FileNotFoundError:
        usage_error(f"{option}: {path} does not exist", option)
    except IsADirectoryError:
        usage_error(f"{option}: {path} is a directory, not a contract file", option)
    except UnicodeDecodeError:
        usage_error(f"{option}: {path} is not UTF-8 text (a YAML contract is)", option)
    except OSError as exc:
        usage_error(f"{option}: cannot read {path}: {exc.strerror or exc}", option)
    if len(text) > MAX_CONTRACT_CHARS:
        usage_error(
            f"{option}: {path} is over {MAX_CONTRACT_CHARS:,} characters, the most a "
            "monitor's contract may hold",
            option,
        )
    if not text.strip():
        usage_error(f"{option}: {path} is empty: give a YAML data contract", option)
    return text


def _normalised(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """Times, durations and ``name@version`` in the file as the API's numbers."""
    spec = dict(data)
    where = f"--from-file {path.name}:"
    if "gateway" in spec and spec["gateway"] is None:
        spec["gateway"] = {}  # a bare ``gateway:`` in YAML: every call
    for key in ("window_seconds", "delay_seconds"):
        if isinstance(spec.get(key), str):
            spec[key] = parse_duration(spec[key], f"{where} {key}")
    reference = spec.get("reference")
    if isinstance(reference, dict):
        reference = dict(reference)
        for key in ("since", "until"):
            if isinstance(reference.get(key), str):
                reference[key] = parse_time(reference[key], f"{where} reference.{key}")
        dataset = reference.get("dataset")
        if isinstance(dataset, str) and reference.get("version") is None:
            name, version, alias = split_dataset(dataset, f"{where} reference.dataset")
            if alias is not None:
                usage_error(
                    f"{where} reference.dataset {dataset!r}: give a version number, not an "
                    "alias, in a file (the command line's --reference-dataset resolves aliases)",
                    where,
                )
            reference.update(dataset=name, version=version)
        spec["reference"] = reference
    return spec


def _reference(client: Client, options: CreateOptions) -> dict[str, Any] | None:
    given = [
        option
        for option, value in (
            ("--reference-dataset", options.reference_dataset),
            ("--reference-window", options.reference_window),
            ("--rolling", options.rolling),
        )
        if value is not None
    ]
    if len(given) > 1:
        usage_error(
            f"give one reference, not {' and '.join(given)}: {_REFERENCE_OPTIONS}", given[1]
        )
    if options.reference_dataset is not None:
        return _dataset_reference(client, options.reference_dataset)
    if options.reference_window is not None:
        since_text, until_text = options.reference_window
        since = parse_time(since_text, "--reference-window SINCE")
        until = parse_time(until_text, "--reference-window UNTIL")
        if until <= since:
            usage_error(
                f"--reference-window: UNTIL ({until_text}) must be after SINCE ({since_text})",
                "--reference-window",
            )
        return {"kind": "window", "since": since, "until": until}
    if options.rolling is not None:
        return {"kind": "rolling", "windows": options.rolling}
    return None


def _dataset_reference(client: Client, text: str) -> dict[str, Any]:
    """A dataset reference with the version pinned: an alias or a bare name is resolved now,
    so the monitor shows which version it compares with."""
    name, version, alias = split_dataset(text)
    if version is None:
        try:
            if alias is not None:
                found = client.call(
                    "get_dataset_version_by_alias", name=name, alias=alias, include_profile=False
                )
            else:
                found = client.call("get_dataset_version", name=name, include_profile=False)
        except NotFoundError as exc:
            raise NotFoundError(exc.message, field="reference-dataset") from None
        name, version = found.name, found.version
    return {"kind": "dataset", "dataset": name, "version": version}


def _dataset_target(options: CreateOptions) -> dict[str, Any] | None:
    """``--dataset NAME[@VERSION]`` and its columns as the request's ``dataset``."""
    named = {
        "time_column": options.time_column,
        "prediction_column": options.prediction_column,
        "label_column": options.label_column,
    }
    if options.dataset is None:
        given = [k for k, v in named.items() if v is not None]
        if given:
            option = "--" + given[0].replace("_", "-")
            usage_error(f"{option} goes with --dataset", option)
        return None
    name, _, version = options.dataset.partition("@")
    target: dict[str, Any] = {"name": name, **{k: v for k, v in named.items() if v}}
    if version:
        if not version.isdigit():
            usage_error(
                f"--dataset {options.dataset!r}: give NAME or NAME@VERSION (a number)", "--dataset"
            )
        target["version"] = int(version)
    if "time_column" not in target:
        usage_error("--dataset needs --time-column: the column of event times", "--time-column")
    return target


def _mapping(value: Any) -> dict[str, Any]:
    """A file's target fields, to merge the options into (nothing when not a mapping: the
    options' target replaces it)."""
    return value if isinstance(value, dict) else {}


def _with_target(spec: dict[str, Any], options: CreateOptions) -> dict[str, Any]:
    """``spec`` watching exactly one thing: the target the options name (merged with the
    file's target of the same kind, replacing one of another kind), or the file's."""
    given = options.target_options()
    if len(given) > 1:
        conflict = (
            f"both {given[0]} and {given[1]}"
            if len(given) == 2
            else f"{', '.join(given[:-1])} and {given[-1]}"
        )
        usage_error(f"give one of {_TARGET_OPTIONS}, not {conflict}", given[0])
    target: tuple[str, Any] | None = None
    if options.endpoint is not None:
        target = ("endpoint", options.endpoint)
    dataset = _dataset_target(options)
    if dataset is not None:
        target = ("dataset", {**_mapping(spec.get("dataset")), **dataset})
    scope = options.gateway_scope()
    if options.gateway or scope:
        target = ("gateway", {**_mapping(spec.get("gateway")), **scope})
    if target is not None:
        key, value = target
        spec = {k: v for k, v in spec.items() if k not in _TARGETS}
        spec[key] = value
    named = [key for key in _TARGETS if spec.get(key) is not None]
    if not named:
        usage_error(f"give what the monitor watches: {_TARGET_OPTIONS}", "--endpoint")
    if len(named) > 1:
        usage_error(
            f"--from-file: the file names {' and '.join(named)}: a monitor watches one of "
            "endpoint, dataset and gateway",
            "--from-file",
        )
    return spec


def _contract(options: CreateOptions) -> dict[str, Any] | None:
    """``--contract FILE`` or ``--contract-from DATASET`` as the request's ``contract``."""
    if options.contract is not None and options.contract_from is not None:
        usage_error(
            "give --contract FILE (a YAML data contract) or --contract-from DATASET (that "
            "dataset's registration policy), not both",
            "--contract-from",
        )
    if options.contract is not None:
        return {"yaml": read_contract_file(options.contract)}
    if options.contract_from is not None:
        return {"dataset": options.contract_from}
    return None


def build_request(
    client: Client, name: str, file_spec: dict[str, Any], options: CreateOptions
) -> dict[str, Any]:
    """The fields of ``create_monitor``: the file's, then every option given."""
    if file_spec.get("name") not in (None, name):
        usage_error(
            f"--from-file: the file names the monitor {file_spec['name']!r} but the command "
            f"names it {name!r}: remove name from the file or use the same name",
            "--from-file",
        )
    spec = _with_target({**file_spec, "name": name}, options)
    if options.reference_dataset is not None and spec.get("gateway") is not None:
        usage_error(
            "a gateway monitor compares its calls with earlier calls: use --reference-window "
            "SINCE UNTIL or --rolling N, not --reference-dataset",
            "--reference-dataset",
        )
    contract = _contract(options)
    if contract is not None:
        spec["contract"] = contract
    reference = _reference(client, options)
    if reference is not None:
        spec["reference"] = reference
    if "reference" not in spec:
        usage_error(
            f"a monitor needs a reference: {_REFERENCE_OPTIONS} (or reference in --from-file)",
            "--reference",
        )
    if options.window is not None:
        from mloop.monitoring.schemas import MAX_WINDOW_SECONDS, MIN_WINDOW_SECONDS

        seconds = parse_duration(options.window, "--window")
        if not MIN_WINDOW_SECONDS <= seconds <= MAX_WINDOW_SECONDS:
            usage_error(
                f"--window {options.window!r}: a window is 1m to 7d ({MIN_WINDOW_SECONDS} to "
                f"{MAX_WINDOW_SECONDS} seconds)",
                "--window",
            )
        spec["window_seconds"] = seconds
    if options.columns:
        spec["columns"] = parse_columns(options.columns)
    if options.sensitive:
        spec["fairness"] = {**(spec.get("fairness") or {}), "sensitive": options.sensitive}
    if options.positive_label is not None:
        label = parse_label(options.positive_label)
        spec["performance"] = {**(spec.get("performance") or {}), "positive_label": label}
        if spec.get("fairness"):
            spec["fairness"] = {**spec["fairness"], "positive_label": label}
    if options.review_threshold is not None:
        spec["review_threshold"] = options.review_threshold
    if options.schedule is not None:
        spec["schedule"] = options.schedule
    if options.delay is not None:
        spec["delay_seconds"] = options.delay
    if options.description is not None:
        spec["description"] = options.description
    return spec
