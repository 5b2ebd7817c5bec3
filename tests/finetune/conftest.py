"""Fine-tuning fixtures: the gateway's (the in-process app, `make_programme`)."""

from tests.gateway.conftest import client, make_programme

__all__ = ["client", "make_programme"]
