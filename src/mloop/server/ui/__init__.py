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
from mloop.server.ui.core import STATIC_DIR, UI, first_segment
from mloop.store.runtime import Runtime


def mount_ui(app: FastAPI, runtime: Runtime, auth: Authenticator) -> None:
    """Add the UI's pages and static files to ``app``; call it after the API's surfaces
    are in ``app.state.surfaces``: the first segments of their paths are the API's roots,
    where errors stay JSON (:meth:`UI.serves`)."""
    api_roots = {
        first_segment(route.path)
        for surface in getattr(app.state, "surfaces", ())
        for route in surface.routes
    }
    ui = UI(runtime, auth, api_roots)
    app.state.ui = ui  # the app's error handler renders unknown UI paths with it
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    for domain in DOMAINS:
        for page_module in domain.pages:
            app.include_router(load(page_module).router(ui))
