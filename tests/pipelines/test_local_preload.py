"""The local executor's preload: modules workers import before their first task."""

from __future__ import annotations

import pytest

from mloop.core.errors import ValidationError
from mloop.pipelines import LocalExecutor, run_pipeline
from tests.pipelines import flows

pytestmark = pytest.mark.usefixtures("settings")

# stdlib modules nothing in mloop or the tests imports, so only a preload brings them in
PRELOADED = ["colorsys", "this_module_does_not_exist", "wave"]


def test_workers_start_with_the_preloaded_modules() -> None:
    executor = LocalExecutor(workers=1, preload=PRELOADED)
    executor.start()
    try:
        # a module that cannot be imported is skipped; the worker still runs the step
        run = run_pipeline(flows.preloaded, {"names": PRELOADED}, executor=executor)
        assert run.status == "succeeded", run.error
        assert run.outputs == [True, False, True]
    finally:
        executor.shutdown()
    plain = LocalExecutor(workers=1)
    plain.start()
    try:
        run = run_pipeline(flows.preloaded, {"names": ["mloop.pipelines.worker"]}, executor=plain)
        assert run.outputs == [True]  # every worker has the worker module
    finally:
        plain.shutdown()


@pytest.mark.parametrize(
    ("preload", "message"),
    [
        ("colorsys", "list of module names"),
        (["colorsys", ""], "'' is not a module name"),
        (["os.path", "a b"], "'a b' is not a module name"),
        (["1x"], "'1x' is not a module name"),
        ([3], "3 is not a module name"),
    ],
)
def test_a_bad_preload_is_refused_naming_the_field(preload: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        LocalExecutor(workers=1, preload=preload)  # type: ignore[arg-type]
    assert info.value.field == "preload"
