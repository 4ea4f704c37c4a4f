"""Retryable: a notification's try that may succeed later (no connection, a timeout, HTTP 429 or 5xx)."""


class Retryable(Exception):
    """A try that may succeed later; any other exception is a refusal not worth repeating."""
