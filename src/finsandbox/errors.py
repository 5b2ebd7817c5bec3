"""The FinsandboxError family: user-facing messages with the HTTP status they map to.

The API and the gateway map these to responses in one place; the CLI prints the message.
"""

from __future__ import annotations


class FinsandboxError(Exception):
    """Base of every error a user may see; `message` is written for that user."""

    status_code = 400
    error_type = "invalid_request_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        # Extra, non-OpenAI details returned beside the error (e.g. the gateway's guard decisions).
        self.extra: dict[str, object] | None = None


class InvalidRequest(FinsandboxError):
    status_code = 400
    error_type = "invalid_request_error"


class AuthenticationFailed(FinsandboxError):
    status_code = 401
    error_type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(FinsandboxError):
    status_code = 403
    error_type = "permission_error"
    code = "forbidden"


class NotFound(FinsandboxError):
    status_code = 404
    error_type = "not_found_error"
    code = "not_found"


class Conflict(FinsandboxError):
    status_code = 409
    error_type = "conflict_error"
    code = "conflict"


class PayloadTooLarge(FinsandboxError):
    status_code = 413
    error_type = "invalid_request_error"
    code = "payload_too_large"


class UnsupportedMediaType(FinsandboxError):
    status_code = 415
    error_type = "invalid_request_error"
    code = "unsupported_media_type"


class QuotaExceeded(FinsandboxError):
    """Raised when a key's quota is spent; `retry_after` is in whole seconds."""

    status_code = 429
    error_type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = max(1, int(retry_after))


class UpstreamError(FinsandboxError):
    """The model backend failed; the gateway reports it without leaking internals."""

    status_code = 502
    error_type = "upstream_error"
    code = "upstream_error"


class UpstreamUnavailable(UpstreamError):
    status_code = 503
    code = "upstream_unavailable"


class UpstreamTimeout(UpstreamError):
    status_code = 504
    code = "upstream_timeout"


class ConfigError(FinsandboxError):
    """A configuration file (policy, suite, framework) is invalid; the message names where."""

    status_code = 422
    error_type = "invalid_request_error"
    code = "invalid_config"
