"""Every example in README.md and docs/*.md runs as written, against a fresh store.

One test per page. The pages run side by side, each in its own runner process with its own
working directory and ``HOME`` (so the default store ``~/.mloop`` is new): a module fixture
starts every selected page at once on a pool as wide as the machine, the pages that run the
demo first, and each test waits for its page. The tests are kept on one test process
(``xdist_group``): every process that ran some of them would start the whole pool, and each
page would run once per process. The marking convention is in
tests/docs/examples.py and docs/architecture.md.

The examples show what a reader gets: the embedded store in ``~/.mloop``, SQLite. The
PostgreSQL pass of the suite (``MLOOP_TEST_DATABASE_URL``) would run them the same way
again, so it skips them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.docs.pages import ROOT, PageResult, documented_pages, run_page

pytestmark = pytest.mark.xdist_group("doc-examples")

PAGES = documented_pages()
PG_PASS = bool(os.environ.get("MLOOP_TEST_DATABASE_URL"))


def _cost(page: Path) -> int:
    """Rough order of a page's run time: the demo takes the longest."""
    return page.read_text(encoding="utf-8").count("$ mloop demo --home")


class PageRuns:
    """The selected pages, started together on a thread pool (one runner process each)."""

    def __init__(self, scratch: Path, pages: list[Path]) -> None:
        self.scratch = scratch
        workers = max(2, min(len(pages), os.cpu_count() or 2))
        self.pool = ThreadPoolExecutor(max_workers=workers)
        self.futures: dict[Path, Future[PageResult]] = {}
        for page in sorted(pages, key=_cost, reverse=True):
            self.submit(page)

    def submit(self, page: Path) -> Future[PageResult]:
        if page not in self.futures:
            directory = Path(tempfile.mkdtemp(prefix=page.stem + "-", dir=self.scratch))
            self.futures[page] = self.pool.submit(run_page, page, directory)
        return self.futures[page]

    def result(self, page: Path) -> PageResult:
        return self.submit(page).result()


@pytest.fixture(scope="module")
def page_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PageRuns]:
    selected = [
        item.callspec.params["page"]
        for item in request.session.items
        if getattr(item, "originalname", "") == "test_page_examples_run"
        and hasattr(item, "callspec")
        and not PG_PASS
    ]
    runs = PageRuns(tmp_path_factory.mktemp("doc-examples"), selected)
    yield runs
    runs.pool.shutdown(wait=True, cancel_futures=True)


def test_the_page_tests_stay_on_one_test_process(request: pytest.FixtureRequest) -> None:
    """Under ``--dist loadgroup`` xdist tags a grouped test's id with its group, and sends
    the group to one process; a pytest that loses the tag runs every page once per process."""
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("runs under pytest-xdist with --dist loadgroup (as make test runs it)")
    assert request.node.nodeid.endswith("@doc-examples"), request.node.nodeid


@pytest.mark.skipif(PG_PASS, reason="doc examples run on the embedded SQLite store (SQLite pass)")
@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_page_examples_run(page: Path, page_runs: PageRuns) -> None:
    result = page_runs.result(page)
    if result.failure is not None:
        pytest.fail(result.failure, pytrace=False)
