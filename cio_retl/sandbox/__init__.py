"""A local Customer.io-compatible Track API over DuckDB, for tests, demos and throughput runs."""

from cio_retl.sandbox.serve import serve_sandbox
from cio_retl.sandbox.server import Faults, LoggedRequest, Sandbox, rule_from_text

__all__ = ["Faults", "LoggedRequest", "Sandbox", "rule_from_text", "serve_sandbox"]
