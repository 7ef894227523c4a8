"""Signing in to the UI: a form that takes an API token and keeps it in a cookie.

The cookie (``mloop_token``) is HttpOnly and SameSite=Strict, and Secure when the page was
served over HTTPS. Any valid token will do: the reader role is enough to see every page.
With authentication disabled there is nothing to sign in to and ``/login`` leads home.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from mloop.auth.authenticator import COOKIE_NAME
from mloop.core.errors import AuthenticationError
from mloop.server.ui.core import UI, safe_next
from mloop.server.ui.forms import field, parse_form, same_origin
from mloop.server.ui.links import link_to

COOKIE_MAX_AGE = 7 * 24 * 3600
MAX_FORM_BYTES = 8192


def router(ui: UI) -> APIRouter:
    r = APIRouter(route_class=ui.route_class, include_in_schema=False)

    def login_form(request: Request, next_url: str, error: str, status: int = 200) -> Response:
        return ui.render(
            request, "login.html", None, status_code=status, next_url=next_url, error=error
        )

    @r.get("/login", name="ui_login")
    def login_page(
        request: Request, next_url: str = Query("/", alias="next"), error: str = ""
    ) -> Response:
        if not ui.auth.enabled:
            return RedirectResponse(safe_next(next_url), status_code=303)
        return login_form(request, safe_next(next_url), error[:200])

    @r.post("/login", name="ui_login_submit")
    async def login_submit(request: Request) -> Response:
        if not ui.auth.enabled:
            return RedirectResponse("/", status_code=303)
        if not same_origin(request):
            return ui.error_page(request, 403, "Not allowed", "cross-site sign-in is refused")
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return login_form(request, "/", "the form is too large", 400)
        form = parse_form(body)
        token = field(form, "token").strip()
        next_url = safe_next(field(form, "next", "/"))
        if not token:
            return login_form(request, next_url, "enter an API token", 400)
        try:
            identity = await run_in_threadpool(ui.auth.verify, token)
        except AuthenticationError as exc:
            return login_form(request, next_url, exc.message, 401)
        if identity.role == "reviewer" and next_url == "/":  # the home page is not theirs
            next_url = link_to("review_queues")
        response = RedirectResponse(next_url, status_code=303)
        response.set_cookie(
            COOKIE_NAME,
            token,
            max_age=COOKIE_MAX_AGE,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @r.post("/logout", name="ui_logout")
    def logout(request: Request) -> Response:
        if not same_origin(request):
            return ui.error_page(request, 403, "Not allowed", "cross-site sign-out is refused")
        response = RedirectResponse("/login" if ui.auth.enabled else "/", status_code=303)
        response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
        return response

    return r
