"""Shared fixtures.

Every test gets a fresh store. The metadata database is SQLite, copied from a file migrated
once per test process, unless ``MLOOP_TEST_DATABASE_URL`` names a PostgreSQL server; then
each test gets its own database cloned from a migrated template. With ``CI=true`` a missing
server fails the test instead of skipping it.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mloop.client import connection as _connection
from mloop.client import fluent as _fluent
from mloop.core.config import Settings
from mloop.store.runtime import Runtime, open_runtime

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_URL = os.environ.get("MLOOP_TEST_DATABASE_URL", "")

# Property-based tests (hypothesis): a bounded number of examples and no deadline (shared
# 2-core machines), no example database in the tree; in CI the same examples every run.
try:
    import hypothesis

    hypothesis.settings.register_profile(
        "mloop",
        max_examples=40,
        deadline=None,
        database=None,
        derandomize=IN_CI,
        suppress_health_check=[hypothesis.HealthCheck.too_slow],
    )
    hypothesis.settings.load_profile("mloop")
except ImportError:  # the dev extra is not installed: those tests cannot be collected anyway
    pass


def require_service(available: bool, what: str) -> None:
    """Skip locally, fail in CI, when a server the test needs is missing."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is not reachable, and CI=true requires it")
    pytest.skip(f"{what} is not reachable")


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- PostgreSQL template ----------------------------------------------------------------

_pg_template: str | None = None


def _pg_admin_url() -> str:
    from sqlalchemy.engine import make_url

    return make_url(PG_URL).set(database="postgres").render_as_string(hide_password=False)


def _pg_execute(sql: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


def _pg_database_url() -> str:
    """A new, migrated, empty PostgreSQL database for one test."""
    global _pg_template
    from sqlalchemy.engine import make_url

    from mloop.store.db import Database

    if _pg_template is None:
        name = f"mloop_tmpl_{uuid.uuid4().hex[:8]}"
        _pg_execute(f'CREATE DATABASE "{name}"')
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        db = Database(url)
        db.migrate()
        db.dispose()
        _pg_template = name
    name = f"mloop_t_{uuid.uuid4().hex[:10]}"
    _pg_execute(f'CREATE DATABASE "{name}" TEMPLATE "{_pg_template}"')
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def _pg_drop(url: str) -> None:
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    _pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_sqlite_template: Path | None = None


def _sqlite_database(home: Path, scratch: Path) -> None:
    """A migrated SQLite store at ``home/mloop.db``, copied from one migrated per test
    process (migrating from nothing costs each test about 0.2 s; the migrations have their
    own tests)."""
    global _sqlite_template
    import shutil

    from mloop.store.db import Database

    if _sqlite_template is None:
        path = scratch / f"mloop-template-{uuid.uuid4().hex[:8]}.db"
        db = Database(f"sqlite:///{path}")
        db.migrate()
        with db.engine.connect() as conn:  # everything in the main file, no WAL left over
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.dispose()
        _sqlite_template = path
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_sqlite_template, home / "mloop.db")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _pg_template is not None:
        _pg_drop(make_template_url())


def make_template_url() -> str:
    from sqlalchemy.engine import make_url

    return make_url(PG_URL).set(database=_pg_template).render_as_string(hide_password=False)


def _pg_non_c_locale() -> str | None:
    """CREATE DATABASE options for a collation that is not byte order (ICU en-US, else a
    libc English locale), or None when the server has neither."""
    from sqlalchemy import create_engine, text

    engine = create_engine(_pg_admin_url())
    try:
        with engine.connect() as conn:
            version = int(conn.execute(text("SHOW server_version_num")).scalar_one())
            names = set(conn.execute(text("SELECT collname FROM pg_collation")).scalars())
    finally:
        engine.dispose()
    if version >= 150000 and "en-US-x-icu" in names:
        return "LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
    libc = sorted(n for n in names if n.lower() in ("en_us.utf8", "en_us.utf-8"))
    return f"LC_COLLATE '{libc[0]}' LC_CTYPE '{libc[0]}'" if libc else None


@pytest.fixture(scope="module")
def pg_non_c_collation_url() -> Iterator[str]:
    """A migrated PostgreSQL database whose default collation is not byte order, where
    ``'a' < 'B'`` (PostgreSQL pass only; in CI a server without such a locale fails)."""
    if not PG_URL:
        pytest.skip("needs MLOOP_TEST_DATABASE_URL (the PostgreSQL pass)")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from mloop.store.db import Database

    options = _pg_non_c_locale()
    require_service(options is not None, "a PostgreSQL collation other than C (ICU or en_US)")
    name = f"mloop_icu_{uuid.uuid4().hex[:10]}"
    _pg_execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' {options}")
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        check = create_engine(url)
        with check.connect() as conn:  # the database really sorts by language, not bytes
            order = conn.execute(text("SELECT v FROM (VALUES ('B'), ('a')) t(v) ORDER BY v"))
            assert order.scalars().all() == ["a", "B"], options
        check.dispose()
        db = Database(url)
        db.migrate()
        db.dispose()
        yield url
    finally:
        _pg_drop(url)


# -- fixtures ---------------------------------------------------------------------------


def _reset_client_state() -> None:
    _connection.close_all()
    _connection.set_tracking_uri(None)
    _fluent._state.runs = []
    _fluent._state.experiment_id = None


@pytest.fixture
def settings(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """Settings for a fresh embedded store; the environment points at it too."""
    home = tmp_path / "mloop-home"
    base = Settings.for_home(home)
    pg_url = None
    if PG_URL:
        from sqlalchemy.engine import make_url

        url = make_url(PG_URL)
        require_service(port_open(url.host or "127.0.0.1", url.port or 5432), "PostgreSQL")
        pg_url = _pg_database_url()
        base = dataclasses.replace(base, database_url=pg_url)
    else:
        _sqlite_database(home, tmp_path_factory.getbasetemp())
    monkeypatch.setenv("MLOOP_HOME", str(home))
    monkeypatch.setenv("MLOOP_DATABASE_URL", base.database_url)
    monkeypatch.setenv("MLOOP_ARTIFACT_ROOT", base.artifact_root)
    monkeypatch.setenv("MLOOP_DISABLE_GIT_CAPTURE", "")
    for name in ("MLOOP_TRACKING_URI", "MLOOP_TOKEN", "MLOOP_AUTH", "MLOOP_S3_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    _reset_client_state()
    yield base
    _reset_client_state()
    if pg_url:
        _pg_drop(pg_url)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = open_runtime(settings)
    yield rt
    rt.close()


class ServerHandle:
    """A real mloop server on loopback, running in a thread of the test process."""

    def __init__(self, runtime: Runtime, *, auth_enabled: bool = False) -> None:
        import uvicorn

        from mloop.server.app import create_app

        self.runtime = runtime
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(runtime, auth_enabled=auth_enabled)
        self.config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(self.config)
        self.thread: threading.Thread | None = None

    def start(self) -> ServerHandle:
        import uvicorn

        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not port_open("127.0.0.1", self.port):
            if time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.server.started = False


@pytest.fixture
def server(runtime: Runtime) -> Iterator[ServerHandle]:
    """A running server (no authentication) over the test store."""
    handle = ServerHandle(runtime).start()
    yield handle
    handle.stop()


@pytest.fixture
def remote(server: ServerHandle, monkeypatch: pytest.MonkeyPatch) -> ServerHandle:
    """Point the SDK at the test server (the SDK's own spool lives in MLOOP_HOME)."""
    monkeypatch.setenv("MLOOP_TRACKING_URI", server.url)
    _reset_client_state()
    return server


@pytest.fixture(params=["embedded", "remote"])
def sdk(request: pytest.FixtureRequest, settings: Settings) -> Iterator[str]:
    """Run a test once against the embedded store and once through a real server."""
    if request.param == "embedded":
        yield "embedded"
        return
    runtime = open_runtime(settings)
    handle = ServerHandle(runtime).start()
    os.environ["MLOOP_TRACKING_URI"] = handle.url
    _reset_client_state()
    try:
        yield "remote"
    finally:
        _reset_client_state()
        os.environ.pop("MLOOP_TRACKING_URI", None)
        handle.stop()
        runtime.close()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server, started on loopback for these tests."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        require_service(False, "moto (the S3-compatible test server)")
        raise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    require_service(port_open("127.0.0.1", port), "the S3-compatible server")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    endpoint = f"http://127.0.0.1:{port}"
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(
        Bucket="mloop-test"
    )
    yield endpoint
    server.stop()
