"""finsandbox: a GenAI sandbox for the finance sector."""

__version__ = "0.1.0"
