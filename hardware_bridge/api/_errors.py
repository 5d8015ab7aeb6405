"""Errors of the SmartPower API: bad input (validation) and what a call can end in (client)."""

from __future__ import annotations

__all__ = [
    "ApiError",
    "ApiValidationError",
    "InvalidAuthCode",
    "NotFound",
    "RateLimited",
    "ServerUnreachable",
    "SmartPowerError",
    "TlsError",
    "Unauthorized",
]


class SmartPowerError(Exception):
    """Base of every error the API model and client raise."""


class ApiValidationError(SmartPowerError, ValueError):
    """A document does not match the API model; ``field`` names where (``readings[3].time``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field or '(document)'}: {message}")
        self.field = field
        self.message = message


class ApiError(SmartPowerError):
    """The server refused a request with a structured error ``{"code", "message", "field"}``."""

    def __init__(
        self, code: str, message: str, field: str | None = None, *, status: int = 0
    ) -> None:
        where = f" ({field})" if field else ""
        super().__init__(f"{code}: {message}{where}")
        self.code = code
        self.message = message
        self.field = field
        self.status = status


class InvalidAuthCode(ApiError):
    """The Modem No + auth code pair was refused (401 ``invalid_auth_code``)."""


class Unauthorized(ApiError):
    """The bearer token or terminal secret is missing, revoked or unknown (401)."""


class NotFound(ApiError):
    """The modem, command or path does not exist, or is not visible to this token (404)."""


class RateLimited(ApiError):
    """Too many attempts (429); try again after ``retry_after`` seconds (None if not said)."""

    def __init__(
        self,
        code: str,
        message: str,
        field: str | None = None,
        *,
        status: int = 429,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, message, field, status=status)
        self.retry_after = retry_after


class ServerUnreachable(SmartPowerError):
    """No answer: connection refused, DNS failure, connection lost or timed out."""


class TlsError(SmartPowerError):
    """The TLS handshake failed (certificate not trusted, wrong host name, …)."""
