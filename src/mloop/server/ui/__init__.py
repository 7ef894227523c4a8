"""The web UI: server-rendered pages over the tracking, registry and datasets domains.

Pages are Jinja2 templates (``server/templates``); styles, the page script and the vendored
uPlot chart library are static files (``server/static``) served at ``/static``. Nothing is
loaded from anywhere else, so the UI works offline.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from mloop.server.security import Authenticator
from mloop.server.ui import artifacts, datasets, experiments, gateway, models, prompts, runs
from mloop.server.ui import auth as login
from mloop.server.ui.core import STATIC_DIR, UI
from mloop.store.runtime import Runtime


def mount_ui(app: FastAPI, runtime: Runtime, auth: Authenticator) -> None:
    """Add the UI's pages and static files to ``app``."""
    ui = UI(runtime, auth)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    for module in (login, experiments, runs, artifacts, models, datasets, prompts, gateway):
        app.include_router(module.router(ui))
