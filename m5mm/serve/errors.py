"""The error a request handler raises for a bad request."""
from __future__ import annotations


class BadRequest(Exception):
    """A request the service answers with ``status`` and ``{"detail": message}``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
