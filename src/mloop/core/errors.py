"""The error hierarchy. Every error names the field at fault where there is one.

The HTTP layer maps each class to a status code and a JSON body
``{"error": {"code": ..., "message": ..., "field": ...}}``; the remote client maps the
body back to the same class, so callers see the same exception embedded and remote.
"""

from __future__ import annotations

from typing import Any, ClassVar


class MloopError(Exception):
    """Base class of every error mloop raises on purpose."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> MloopError:
        """Rebuild the right subclass from an HTTP error body."""
        code = str(body.get("code", "INTERNAL_ERROR"))
        klass = _BY_CODE.get(code, MloopError)
        return klass(str(body.get("message", "unknown error")), field=body.get("field"))


class ValidationError(MloopError, ValueError):
    """Input is malformed, of the wrong type, or out of range."""

    code = "INVALID_PARAMETER_VALUE"
    http_status = 400


class NotFoundError(MloopError, LookupError):
    """A referenced object does not exist."""

    code = "RESOURCE_DOES_NOT_EXIST"
    http_status = 404


class ConflictError(MloopError):
    """The request contradicts what is already stored (a duplicate name, a changed param)."""

    code = "RESOURCE_ALREADY_EXISTS"
    http_status = 409


class PayloadTooLargeError(MloopError):
    """A request body or artifact exceeds the configured limit."""

    code = "PAYLOAD_TOO_LARGE"
    http_status = 413


class DataContractError(MloopError):
    """Data broke a data contract it had to meet, so nothing was stored.

    ``report`` is the ``mloop.data.ValidationReport`` when the check ran in this process
    (it is None when the error came back from a server).
    """

    code = "DATA_CONTRACT_FAILED"
    http_status = 422

    def __init__(self, message: str, *, field: str | None = None, report: Any = None) -> None:
        super().__init__(message, field=field)
        self.report = report


class AuthenticationError(MloopError):
    """No valid token was presented."""

    code = "UNAUTHENTICATED"
    http_status = 401


class PermissionDeniedError(MloopError):
    """The token's role does not allow the operation."""

    code = "PERMISSION_DENIED"
    http_status = 403


class ServiceUnavailableError(MloopError):
    """The server could not be reached or is not ready."""

    code = "SERVICE_UNAVAILABLE"
    http_status = 503


_BY_CODE: dict[str, type[MloopError]] = {
    k.code: k
    for k in (
        ValidationError,
        NotFoundError,
        ConflictError,
        PayloadTooLargeError,
        DataContractError,
        AuthenticationError,
        PermissionDeniedError,
        ServiceUnavailableError,
    )
}
