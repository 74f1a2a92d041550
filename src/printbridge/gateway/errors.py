"""Failures the gateway reports to the app: a stable code and a message in plain words."""

from __future__ import annotations


class Failure(Exception):
    """An operation that did not happen, with the reason the user sees."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def reply(self) -> dict[str, object]:
        return {"ok": False, "error": self.code, "message": self.message}
