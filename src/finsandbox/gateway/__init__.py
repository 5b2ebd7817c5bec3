"""The gateway: OpenAI-compatible routes, routing to backends, quotas and metering."""

from finsandbox.gateway.routes import router

__all__ = ["router"]
