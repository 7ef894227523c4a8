"""What every UI page shares: templates, the viewer's identity, error pages, security headers.

The template environment is built once, with every filter and global the templates use
(:data:`TEMPLATE_GLOBALS`, ``formatting.FILTERS``); page routers only read it.

Page handlers raise mloop errors as the API handlers do; the :class:`UIRoute` of every UI
router turns them into HTML pages with the right status (404, 400, 403) or, for a missing
or bad token, a redirect to the login page. A path no route takes gets an HTML 404 page too,
unless it lies under an API root (``/api``, ``/ajax-api``, ``/v1``: :meth:`UI.serves`), where
the API's JSON error stays. Every error page links back to the section it belongs to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import jinja2
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from mloop import __version__
from mloop.auth.authenticator import Authenticator, Identity
from mloop.core.errors import (
    AuthenticationError,
    MloopError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from mloop.server.ui.badges import guardrail_badges
from mloop.server.ui.formatting import FILTERS, quote_key
from mloop.server.ui.links import link_to
from mloop.store.context import Context
from mloop.store.runtime import Runtime

log = logging.getLogger("mloop.server.ui")

T = TypeVar("T")

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

# Pages load scripts, styles and images from this server only. Chart data travels in
# <script type="application/json"> blocks, which are data, not code.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


# The sections of the main navigation: the link kind of each one's list page, and its label.
# A path belongs to the section whose list page shares its first segment; any other path
# (a run, a comparison, an unknown page) to the experiments, the home page.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("experiments", "Experiments"),
    ("models", "Models"),
    ("endpoints", "Endpoints"),
    ("monitors", "Monitors"),
    ("datasets", "Datasets"),
    ("features", "Features"),
    ("gateway", "Gateway"),
    ("prompts", "Prompts"),
    ("alerts", "Alerts"),
    ("review_queues", "Review"),
    ("pipelines", "Pipelines"),
    ("automation", "Automation"),
    ("gates", "Gates"),
)
HOME_SECTION = "experiments"

# Functions and values every template can use, besides the filters of ``formatting``.
TEMPLATE_GLOBALS: dict[str, Any] = {
    "link_to": link_to,
    "quote_key": quote_key,
    "guardrail_badges": guardrail_badges,
    "version": __version__,
    "nav_sections": SECTIONS,
}

ERROR_TITLES = {400: "Bad request", 403: "Not allowed", 404: "Not found", 405: "Method not allowed"}


def first_segment(path: str) -> str:
    """The first segment of a URL path (``/models/churn`` -> ``models``; ``/`` -> ``""``)."""
    return path.lstrip("/").split("/", 1)[0]


def section_of(path: str) -> str:
    """The navigation section a UI path belongs to (see :data:`SECTIONS`)."""
    root = first_segment(path)
    for section, _label in SECTIONS:
        if root and root == first_segment(link_to(section)):
            return section
    return HOME_SECTION


def safe_next(target: str | None) -> str:
    """A local path to return to after login; anything else becomes ``/``."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(ch in target for ch in "\r\n\x00"):
        return "/"
    return target


def url_with(request: Request, **changes: Any) -> str:
    """The current page's URL with some query parameters replaced (None removes one)."""
    params = dict(request.query_params)
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    query = urlencode(params)
    return request.url.path + (f"?{query}" if query else "")


def make_environment() -> jinja2.Environment:
    """The templates' environment with every filter and global registered."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    env.globals.update(TEMPLATE_GLOBALS)
    # Data must be sanitised (NaN -> null) before it reaches tojson; refuse it loudly otherwise.
    env.policies["json.dumps_kwargs"] = {"allow_nan": False, "separators": (",", ":")}
    return env


class UI:
    """The state the page routers share."""

    def __init__(
        self, runtime: Runtime, auth: Authenticator, api_roots: Iterable[str] = ()
    ) -> None:
        self.runtime = runtime
        self.auth = auth
        self.env = make_environment()
        self.route_class = _route_class(self)
        # First path segments that belong to the API: errors there stay JSON.
        self.api_roots = frozenset({"api", *api_roots})

    def serves(self, request: Request) -> bool:
        """Whether an error at ``request``'s path is the UI's to answer (an HTML page).

        Paths under an API root are the API's; so is a request that asks for JSON only.
        """
        if first_segment(request.url.path) in self.api_roots:
            return False
        accept = request.headers.get("accept", "")
        return "text/html" in accept or "json" not in accept

    # -- data -----------------------------------------------------------------------------

    def read(self, fn: Callable[[Context], T], viewer: Identity | None = None) -> T:
        """Run ``fn`` in a read transaction."""
        return self.runtime.run(fn, write=False, actor=viewer.name if viewer else None)

    # -- identity ---------------------------------------------------------------------------

    def viewer(self, request: Request) -> Identity:
        """Who is looking; raises (and so redirects to the login page) when nobody is."""
        return self.auth.require(request, "reader")

    # -- rendering --------------------------------------------------------------------------

    def render(
        self,
        request: Request,
        template: str,
        viewer: Identity | None,
        *,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        html = self.env.get_template(template).render(
            request=request,
            viewer=viewer,
            auth_enabled=self.auth.enabled,
            url_with=lambda **changes: url_with(request, **changes),
            **context,
        )
        return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)

    def error_page(
        self,
        request: Request,
        status_code: int,
        title: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """An HTML error page that links back to the section of the page asked for."""
        section = section_of(request.url.path)
        response = self.render(
            request,
            "error.html",
            None,
            status_code=status_code,
            title=title,
            message=message,
            section=section,
            section_label=dict(SECTIONS)[section],
        )
        response.headers.update(headers or {})
        return response

    def login_redirect(self, request: Request, message: str | None = None) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        query = {"next": target}
        if message:
            query["error"] = message
        return RedirectResponse(f"/login?{urlencode(query)}", status_code=303)

    def handle_error(self, request: Request, exc: Exception) -> Response:
        """The HTML answer to an error raised while building a page."""
        if isinstance(exc, AuthenticationError):
            return self.login_redirect(request)
        if isinstance(exc, PermissionDeniedError):
            return self.error_page(request, 403, "Not allowed", exc.message)
        if isinstance(exc, NotFoundError):
            return self.error_page(request, 404, "Not found", exc.message)
        if isinstance(exc, ValidationError):
            return self.error_page(request, 400, "Bad request", exc.message)
        if isinstance(exc, MloopError):
            status = exc.http_status if 400 <= exc.http_status < 600 else 500
            return self.error_page(request, status, "Error", exc.message)
        if isinstance(exc, RequestValidationError):
            errors = exc.errors()
            first = errors[0] if errors else {}
            where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path"))
            detail = first.get("msg", "invalid value")
            return self.error_page(request, 400, "Bad request", f"{where}: {detail}")
        if isinstance(exc, StarletteHTTPException):
            title = ERROR_TITLES.get(exc.status_code, "Error")
            message = str(exc.detail)
            if exc.status_code == 404 and message == "Not Found":  # the router's own words
                message = f"There is no page at {request.url.path}."
            return self.error_page(request, exc.status_code, title, message, exc.headers)
        log.exception("error while rendering %s", request.url.path, exc_info=exc)
        return self.error_page(
            request, 500, "Server error", f"internal error: {type(exc).__name__}"
        )


def _route_class(ui: UI) -> type[APIRoute]:
    class UIRoute(APIRoute):
        """Turns errors raised by page handlers into HTML pages instead of JSON bodies."""

        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def route(request: Request) -> Response:
                try:
                    return await handler(request)
                except Exception as exc:
                    return ui.handle_error(request, exc)

            return route

    return UIRoute
