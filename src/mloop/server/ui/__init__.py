"""The web UI: server-rendered pages of every domain that declares some.

Pages are Jinja2 templates (``server/templates``); styles, the page script and the vendored
uPlot chart library are static files (``server/static``) served at ``/static``. Nothing is
loaded from anywhere else, so the UI works offline.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from mloop.auth.authenticator import Authenticator
from mloop.core.domain import load
from mloop.domains import DOMAINS
from mloop.server.ui.core import STATIC_DIR, UI
from mloop.store.runtime import Runtime


def mount_ui(app: FastAPI, runtime: Runtime, auth: Authenticator) -> None:
    """Add the UI's pages and static files to ``app``."""
    ui = UI(runtime, auth)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    for domain in DOMAINS:
        for page_module in domain.pages:
            app.include_router(load(page_module).router(ui))
