"""Where each kind of object lives in the UI: one function per kind, one registry.

Pages and templates link to an object through :func:`link_to` (a template global), never
by spelling its URL, so a page that moves changes here only. A new kind of object (an
endpoint, a monitor, a review item, a pipeline run, a trace) is one more decorated function::

    @link("endpoint")
    def endpoint(name: str) -> str:
        return f"/endpoints/{part(name)}"

Every path segment and query value is percent-encoded (``/`` included), so a name can never
reach another page or add a query parameter. Templates escape the result as any text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mloop.server.ui.formatting import urlquote as part

Link = Callable[..., str]

_LINKS: dict[str, Link] = {}


def link(kind: str) -> Callable[[Link], Link]:
    """Register the decorated function as the URL of objects of ``kind``."""

    def register(fn: Link) -> Link:
        if kind in _LINKS:
            raise ValueError(f"a link for {kind!r} is already registered")
        _LINKS[kind] = fn
        return fn

    return register


def link_to(kind: str, /, **ids: Any) -> str:
    """The URL of the object of ``kind`` named by ``ids`` (``link_to("run", run_id=...)``)."""
    try:
        fn = _LINKS[kind]
    except KeyError:
        raise KeyError(f"no link for objects of kind {kind!r}") from None
    return fn(**ids)


def kinds() -> list[str]:
    """Every kind of object that has a link, sorted."""
    return sorted(_LINKS)


def _query(values: dict[str, str | None]) -> str:
    """``?a=1&b=2`` from the values that are set (none: empty), each one percent-encoded."""
    pairs = [f"{part(k)}={part(v)}" for k, v in values.items() if v]
    return "?" + "&".join(pairs) if pairs else ""


# -- tracking ------------------------------------------------------------------------------


@link("experiments")
def experiments() -> str:
    return "/"


@link("experiment")
def experiment(experiment_id: str, filter: str | None = None, order_by: str | None = None) -> str:
    """An experiment's runs table, with a ``filter`` and ``order_by`` when given."""
    query = {"filter": filter, "order_by": order_by}
    return f"/experiments/{part(experiment_id)}" + _query(query)


@link("experiment_charts")
def experiment_charts(
    experiment_id: str,
    filter: str | None = None,
    order_by: str | None = None,
    metric: str | None = None,
    param: str | None = None,
) -> str:
    """An experiment's chart view: the runs ``filter`` and ``order_by`` pick, one metric."""
    query = {"filter": filter, "order_by": order_by, "metric": metric, "param": param}
    return f"/experiments/{part(experiment_id)}/charts" + _query(query)


@link("experiment_chart_data")
def experiment_chart_data(
    experiment_id: str, filter: str | None = None, order_by: str | None = None
) -> str:
    """The JSON the chart view loads when another metric is chosen (``&metric=`` added)."""
    query = {"filter": filter, "order_by": order_by}
    return f"/experiments/{part(experiment_id)}/charts/data" + _query(query)


@link("run")
def run(run_id: str) -> str:
    return f"/runs/{part(run_id)}"


@link("compare_runs")
def compare_runs(runs: Sequence[str] = ()) -> str:
    """The comparison page of ``runs``; without them, the form's target (which adds
    ``?runs=a&runs=b``)."""
    return "/compare?runs=" + ",".join(part(r) for r in runs) if runs else "/compare"


@link("artifacts")
def artifacts(run_id: str, path: str | None = None) -> str:
    """A run's artifact browser, at ``path`` (a directory or a file) when given."""
    base = f"/runs/{part(run_id)}/artifacts"
    return base if path is None else f"{base}?path={part(path)}"


@link("artifact_download")
def artifact_download(run_id: str, path: str, inline: bool = False) -> str:
    url = f"/runs/{part(run_id)}/artifacts/download?path={part(path)}"
    return url + "&inline=true" if inline else url


# -- MLflow's logged models --------------------------------------------------------------


@link("logged_models")
def logged_models(
    experiment_id: str,
    name: str | None = None,
    status: str | None = None,
    metric: str | None = None,
    sort: str | None = None,
) -> str:
    """An experiment's logged models, filtered by ``name`` (contains) and ``status``, with
    ``metric`` as the chosen metric column and ``sort`` as the order."""
    query = {"name": name, "status": status, "metric": metric, "sort": sort}
    return f"/experiments/{part(experiment_id)}/logged-models" + _query(query)


@link("logged_model")
def logged_model(model_id: str) -> str:
    return f"/logged-models/{part(model_id)}"


@link("logged_model_file")
def logged_model_file(model_id: str, path: str) -> str:
    """One file of a logged model's own folder, downloaded (always as an attachment)."""
    return f"/logged-models/{part(model_id)}/files?path={part(path)}"


# -- registry ------------------------------------------------------------------------------


@link("models")
def models() -> str:
    return "/models"


@link("model")
def model(name: str) -> str:
    return f"/models/{part(name)}"


@link("model_version")
def model_version(name: str, version: int) -> str:
    return f"/models/{part(name)}/versions/{part(version)}"


@link("model_version_file")
def model_version_file(name: str, version: int, path: str) -> str:
    """One file of a version, downloaded (always as an attachment)."""
    return f"/models/{part(name)}/versions/{part(version)}/files?path={part(path)}"


@link("model_compare")
def model_compare(name: str, versions: Sequence[int] = ()) -> str:
    """Versions of one model side by side; without ``versions``, the form's target."""
    url = f"/models/{part(name)}/compare"
    return f"{url}?versions=" + ",".join(part(v) for v in versions) if versions else url


# -- datasets ------------------------------------------------------------------------------


@link("datasets")
def datasets() -> str:
    return "/datasets"


@link("dataset")
def dataset(name: str) -> str:
    return f"/datasets/{part(name)}"


@link("dataset_version")
def dataset_version(name: str, version: int | str) -> str:
    """A version's page; ``version`` may also be ``latest`` or an alias (a redirect)."""
    return f"/datasets/{part(name)}/{part(version)}"


@link("dataset_validation")
def dataset_validation(name: str, version: int, validation_id: int | str) -> str:
    """One contract validation, on its version's page."""
    return f"{dataset_version(name, version)}#validation-{part(validation_id)}"


@link("dataset_compare")
def dataset_compare(name: str, a: int | None = None, b: int | None = None) -> str:
    """Two versions compared; without ``a`` and ``b``, the form's target."""
    url = f"/datasets/{part(name)}/compare"
    return url if a is None or b is None else f"{url}?a={part(a)}&b={part(b)}"


# -- prompts -------------------------------------------------------------------------------


@link("prompts")
def prompts() -> str:
    return "/prompts"


@link("prompt")
def prompt(name: str) -> str:
    return f"/prompts/{part(name)}"


@link("prompt_version")
def prompt_version(name: str, version: int | str) -> str:
    """A version's page; ``version`` may also be ``latest`` or a label (a redirect)."""
    return f"/prompts/{part(name)}/{part(version)}"


@link("prompt_diff")
def prompt_diff(name: str, a: int | None = None, b: int | None = None) -> str:
    """Two versions diffed; without ``a`` and ``b``, the form's target."""
    url = f"/prompts/{part(name)}/diff"
    return url if a is None or b is None else f"{url}?a={part(a)}&b={part(b)}"


@link("prompt_review")
def prompt_review(name: str, version: int) -> str:
    """Where a version's review form posts."""
    return f"/prompts/{part(name)}/{part(version)}/review"


# -- gateway -------------------------------------------------------------------------------


@link("gateway")
def gateway() -> str:
    return "/gateway"


@link("gateway_calls")
def gateway_calls(
    route: str | None = None,
    prompt: str | None = None,
    version: int | None = None,
    status: str | None = None,
    q: str | None = None,
) -> str:
    """The call log, filtered to a route, a prompt (one version of it with ``version``),
    a status or a text (``q``: a model's name, say) when given."""
    filters = [
        ("route", route),
        ("prompt", prompt if version is None or prompt is None else f"{prompt}:{version}"),
        ("status", status),
        ("q", q),
    ]
    query = "&".join(f"{key}={part(value)}" for key, value in filters if value is not None)
    return f"/gateway/calls?{query}" if query else "/gateway/calls"


@link("gateway_call")
def gateway_call(call_id: str) -> str:
    return f"/gateway/calls/{part(call_id)}"


@link("gateway_route")
def gateway_route(name: str, window: str | None = None) -> str:
    """A route's page: its targets, figures over ``window`` (``24h``...) and rollouts."""
    return f"/gateway/routes/{part(name)}" + _query({"window": window})


@link("route_rollout")
def route_rollout(rollout_id: int) -> str:
    """A canary rollout on a route (its id is unique across routes)."""
    return f"/gateway/rollouts/{part(rollout_id)}"


@link("route_rollout_event")
def route_rollout_event(rollout_id: int, event_id: int) -> str:
    """One event of a route rollout, in its history."""
    return f"/gateway/rollouts/{part(rollout_id)}#event-{part(event_id)}"


@link("route_rollout_end")
def route_rollout_end(rollout_id: int) -> str:
    """Where a route rollout's End form posts."""
    return f"/gateway/rollouts/{part(rollout_id)}/end"


@link("route_rollout_check")
def route_rollout_check(rollout_id: int) -> str:
    """Where a route rollout's Check now form posts."""
    return f"/gateway/rollouts/{part(rollout_id)}/check"


# -- serving -------------------------------------------------------------------------------


@link("endpoints")
def endpoints() -> str:
    return "/endpoints"


@link("endpoint")
def endpoint(name: str, range: str | None = None) -> str:
    """An endpoint's page, its charts over ``range`` (``1h``, ``24h``...) when given."""
    return f"/endpoints/{part(name)}" + _query({"range": range})


@link("endpoint_event")
def endpoint_event(name: str, event_id: int) -> str:
    """One deployment event, in its endpoint's history."""
    return f"/endpoints/{part(name)}#event-{part(event_id)}"


@link("endpoint_deployment")
def endpoint_deployment(name: str, deployment_id: int) -> str:
    """One deployment of an endpoint, in its list of deployments."""
    return f"/endpoints/{part(name)}#deployment-{part(deployment_id)}"


@link("endpoint_rollback")
def endpoint_rollback(name: str) -> str:
    """Where an endpoint's Rollback form posts."""
    return f"/endpoints/{part(name)}/rollback"


@link("inference_request")
def inference_request(name: str, request_id: str, time: int | None = None) -> str:
    """One request in an endpoint's inference log; ``time`` (ms) narrows the search."""
    return f"/endpoints/{part(name)}/requests/{part(request_id)}" + _query(
        {"t": None if time is None else str(time)}
    )


# -- alerts --------------------------------------------------------------------------------


@link("alerts")
def alerts(
    status: str | None = None,
    severity: str | None = None,
    source: str | None = None,
    rule: str | None = None,
    subject: str | None = None,
    range: str | None = None,
) -> str:
    """The alerts page, filtered (``subject`` is ``key=value``) and its timeline's range."""
    query = {
        "status": status,
        "severity": severity,
        "source": source,
        "rule": rule,
        "subject": subject,
        "range": range,
    }
    return "/alerts" + _query(query)


@link("alert")
def alert(alert_id: int) -> str:
    return f"/alerts/{part(alert_id)}"


@link("alert_acknowledge")
def alert_acknowledge(alert_id: int) -> str:
    """Where an alert's Acknowledge form posts."""
    return f"/alerts/{part(alert_id)}/acknowledge"


@link("alert_resolve")
def alert_resolve(alert_id: int) -> str:
    """Where an alert's Resolve form posts."""
    return f"/alerts/{part(alert_id)}/resolve"


# -- monitoring ----------------------------------------------------------------------------


@link("monitors")
def monitors(endpoint: str | None = None) -> str:
    """The monitors, those of one ``endpoint`` when given."""
    return "/monitors" + _query({"endpoint": endpoint})


@link("monitor")
def monitor(name: str, window: int | None = None) -> str:
    """A monitor's page, one computed ``window`` (its start, ms) selected when given: the
    form the links of alerts raised by a monitor's windows have."""
    return f"/monitors/{part(name)}" + _query({"window": None if window is None else str(window)})


@link("monitor_run")
def monitor_run(name: str) -> str:
    """Where a monitor's Run now form posts."""
    return f"/monitors/{part(name)}/run"


@link("monitor_delete")
def monitor_delete(name: str) -> str:
    """Where a monitor's Delete form posts."""
    return f"/monitors/{part(name)}/delete"


# -- features ------------------------------------------------------------------------------


@link("features")
def features(anchor: str | None = None) -> str:
    """The feature store's overview, at one of its rows (``source-orders``) when given:
    sources and on-demand features have no page of their own."""
    return "/features" + (f"#{part(anchor)}" if anchor else "")


@link("feature_view")
def feature_view(name: str, version: int | None = None) -> str:
    """A feature view's page: its newest version, or ``version``."""
    query = {"version": None if version is None else str(version)}
    return f"/features/views/{part(name)}" + _query(query)


@link("feature_service")
def feature_service(name: str, version: int | None = None) -> str:
    """A feature service's page: its newest version, or ``version``."""
    query = {"version": None if version is None else str(version)}
    return f"/features/services/{part(name)}" + _query(query)


# -- review --------------------------------------------------------------------------------


@link("review_queues")
def review_queues() -> str:
    return "/review"


@link("review_queue")
def review_queue(
    name: str,
    status: str | None = None,
    reason: str | None = None,
    low_agreement: bool | None = None,
    changed: bool | None = None,
    page_token: str | None = None,
) -> str:
    """A queue's dashboard, its recent items filtered by status, reason, low agreement or
    whether the answer changed the model's."""
    query = {
        "status": status,
        "reason": reason,
        "low_agreement": None if low_agreement is None else str(low_agreement).lower(),
        "changed": None if changed is None else str(changed).lower(),
        "page_token": page_token,
    }
    return f"/review/{part(name)}" + _query(query)


@link("review_work")
def review_work(
    name: str,
    item: int | None = None,
    last: int | None = None,
    did: str | None = None,
    empty: bool = False,
) -> str:
    """A queue's review page: the ``item`` the viewer holds (or, ``empty``, the news that
    nothing is left for them), and what they did to the ``last`` one (``answered``,
    ``skipped``, ``escalated``) when given."""
    query = {
        "item": None if item is None else str(item),
        "last": None if last is None else str(last),
        "did": did,
        "empty": "true" if empty else None,
    }
    return f"/review/{part(name)}/work" + _query(query)


@link("review_claim")
def review_claim(name: str) -> str:
    """Where the review page's Start form posts: claim the queue's next item."""
    return f"/review/{part(name)}/claim"


@link("review_item")
def review_item(item_id: int) -> str:
    return f"/review/items/{part(item_id)}"


@link("review_item_action")
def review_item_action(item_id: int, action: str) -> str:
    """Where a form about one item posts (``answer``, ``skip``, ``escalate``, ``release``,
    ``comment``, ``resolve``)."""
    return f"/review/items/{part(item_id)}/{part(action)}"


# -- automation ----------------------------------------------------------------------------


@link("automation")
def automation() -> str:
    """Jobs, triggers and the trigger event log."""
    return "/automation"


@link("automation_job")
def automation_job(job_id: int) -> str:
    return f"/automation/jobs/{part(job_id)}"


@link("automation_trigger")
def automation_trigger(name: str) -> str:
    """A trigger's row and its events on the automation page."""
    return f"/automation?trigger={part(name)}#triggers"


# -- evals ---------------------------------------------------------------------------------


@link("gates")
def gates(model: str | None = None) -> str:
    """Gate decisions, newest first (of one model, as candidate or champion)."""
    return f"/gates{_query({'model': model})}"


@link("gate")
def gate(decision_id: int) -> str:
    return f"/gates/{part(decision_id)}"


@link("eval_suite")
def eval_suite(name: str) -> str:
    return f"/evals/suites/{part(name)}"


# -- deployment policies -------------------------------------------------------------------


@link("policies")
def policies() -> str:
    """Deployment policies, the runs waiting for approval and the latest runs."""
    return "/automation/policies"


@link("policy")
def policy(name: str) -> str:
    return f"/automation/policies/{part(name)}"


@link("policy_run")
def policy_run(run_id: int) -> str:
    return f"/automation/policy-runs/{part(run_id)}"


@link("policy_run_approve")
def policy_run_approve(run_id: int) -> str:
    """Where a run's Approve form posts."""
    return f"/automation/policy-runs/{part(run_id)}/approve"


@link("policy_run_reject")
def policy_run_reject(run_id: int) -> str:
    """Where a run's Reject form posts."""
    return f"/automation/policy-runs/{part(run_id)}/reject"


@link("approvals")
def approvals() -> str:
    """Policy runs waiting for a deployer's approval."""
    return "/automation/approvals"


@link("model_timeline")
def model_timeline(name: str, version: int | None = None) -> str:
    """A model's automation timeline; with ``version``, why that version is where it is."""
    return f"/models/{part(name)}/timeline" + _query(
        {"version": None if version is None else str(version)}
    )


# -- pipelines -----------------------------------------------------------------------------


@link("pipelines")
def pipelines(pipeline: str | None = None) -> str:
    """Pipelines with their recent runs; with ``pipeline``, that one with more of its runs."""
    return "/pipelines" + _query({"pipeline": pipeline})


@link("pipeline_run")
def pipeline_run(run_id: int) -> str:
    return f"/pipelines/runs/{part(run_id)}"


@link("pipeline_step")
def pipeline_step(run_id: int, node: str) -> str:
    """One step (graph node) of a pipeline run, in its run's step table."""
    return f"/pipelines/runs/{part(run_id)}#step-{part(node)}"
