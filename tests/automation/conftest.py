"""Fixtures of the automation tests."""

from __future__ import annotations

import pytest

from mloop.automation import kinds
from tests.automation.automation_testing import RECORDER, TEST_KINDS, Recorder


@pytest.fixture
def test_kinds(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """The test job kinds added to JOB_KINDS, and the recorder emptied."""
    for kind, ref in TEST_KINDS.items():
        monkeypatch.setitem(kinds.JOB_KINDS, kind, ref)
    with RECORDER.lock:
        RECORDER.runs.clear()
        RECORDER.running.clear()
        RECORDER.overlaps.clear()
    return RECORDER
