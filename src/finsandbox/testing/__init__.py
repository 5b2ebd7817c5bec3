"""Tools for testing against finsandbox: a stub OpenAI-compatible upstream and a server launcher.

They ship with the package so integrators can test their own apps against the gateway, and
the project's tests and benchmarks use the same code.
"""
