"""Overload: beyond ``max_pending`` requests held at once, an endpoint answers 503 with
Retry-After at once (logged as "overloaded", counted), and every admitted request is
answered. The model is held at a gate instead of sleeping, so which requests are admitted
does not depend on timing."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from tests.serving.serving_testing import call, variant

from mloop.serving.http import standalone_app
from mloop.serving.predictor import Predictor, Result
from mloop.serving.serve import ServeOptions
from mloop.serving.service import DEFAULT_MAX_PENDING
from mloop.store.runtime import Runtime

BODY = {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1.0, 0.5, -1.0]]}}


async def _until(condition: Any) -> None:
    """Wait for ``condition()`` (a guard against hanging, not a timing assertion)."""
    for _ in range(3000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


def test_beyond_max_pending_requests_get_503_with_retry_after_and_the_rest_succeed(
    runtime: Runtime, models: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    call("create_endpoint", name="churn-api")
    call("deploy", endpoint="churn-api", variants=[variant("churn", version=1)])
    gate = threading.Event()
    gate.set()
    original = Predictor.predict_batch

    def slow(self: Predictor, inputs: Sequence[Any]) -> list[Result]:
        assert gate.wait(30), "the test never opened the gate"
        return original(self, inputs)

    monkeypatch.setattr(Predictor, "predict_batch", slow)
    app = standalone_app(runtime, "churn-api", auth_enabled=False, max_pending=4)
    service = app.state.serving

    async def scenario() -> tuple[list[httpx.Response], httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://serving") as client:
            first = await client.post("/invocations", json=BODY)  # loads the endpoint
            gate.clear()  # the model is slow from here on
            tasks = [
                asyncio.ensure_future(client.post("/invocations", json=BODY)) for _ in range(20)
            ]
            # Four are admitted and wait for the model; the sixteen others are refused at once.
            await _until(lambda: sum(t.done() for t in tasks) == 16)
            assert service.overloaded["churn-api"] == 16
            assert sum(service._pending.values()) == 4
            gate.set()
            answers = await asyncio.gather(*tasks)
            await service.aclose()
        return answers, first

    answers, first = asyncio.run(scenario())
    assert first.status_code == 200, first.text
    assert Counter(a.status_code for a in answers) == {200: 4, 503: 16}
    for answer in answers:
        if answer.status_code == 200:
            assert len(answer.json()["predictions"]) == 1
            continue
        assert answer.headers["retry-after"] == "1"
        error = answer.json()["error"]
        assert error["code"] == "SERVICE_UNAVAILABLE"
        assert "endpoint 'churn-api' is overloaded: 4 requests" in error["message"]
        assert "retry after 1 s" in error["message"]
    records = service.inference_log.read(endpoints=["churn-api"]).to_pylist()
    assert Counter(r["status"] for r in records) == {"ok": 5, "overloaded": 16}
    refused = [r for r in records if r["status"] == "overloaded"]
    assert all(r["outputs"] is None and "overloaded" in r["error"] for r in refused)
    # Nothing is held once every request is answered.
    assert sum(service._pending.values()) == 0


def test_max_pending_is_an_option_of_mloop_serve() -> None:
    assert ServeOptions(endpoint="e").max_pending == DEFAULT_MAX_PENDING
    with pytest.raises(ValueError, match="max_pending"):
        from mloop.serving.service import ServingService

        ServingService(None, max_pending=0)  # type: ignore[arg-type]
