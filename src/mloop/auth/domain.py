"""The auth domain's declaration: API tokens and the UI's sign-in page."""

from mloop.core.domain import Domain

DOMAIN = Domain(
    name="auth",
    summary="API tokens with roles",
    tables=("mloop.auth.tables",),
    pages=("mloop.server.ui.auth",),
)
