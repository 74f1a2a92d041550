"""The web app's side of the gateway protocol: one JSON request per connection."""

from __future__ import annotations

import json
import socket
from typing import Any

# HTTP status for each gateway error code; anything else is a server error.
STATUS = {
    "bad_request": 400,
    "invalid_credentials": 401,
    "forbidden": 403,
    "not_allowed": 403,
    "not_found": 404,
    "not_possible": 409,
    "not_accepting": 409,
    "too_large": 413,
    "cups_unavailable": 503,
    "unavailable": 503,
    "gateway_unavailable": 503,
    "timeout": 504,
}
MAX_REPLY = 16 * 1024 * 1024


class GatewayError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def status(self) -> int:
        return STATUS.get(self.code, 500)


class Gateway:
    def __init__(self, path: str, timeout: float = 90) -> None:
        self.path = path
        self.timeout = timeout

    def call(self, op: str, **fields: Any) -> Any:
        """Send one operation and return its result, or raise GatewayError with the plain-words message."""
        request = json.dumps({"op": op, **fields}).encode() + b"\n"
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(self.timeout)
                conn.connect(self.path)
                conn.sendall(request)
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(65536)
                    if not chunk or len(data) > MAX_REPLY:
                        break
                    data += chunk
        except OSError:
            raise GatewayError("gateway_unavailable", "The print service is not available right now.") from None
        try:
            reply = json.loads(data)
        except ValueError:
            raise GatewayError("gateway_unavailable", "The print service gave no answer.") from None
        if not reply.get("ok"):
            raise GatewayError(reply.get("error", "internal"), reply.get("message", "The print service failed."))
        return reply["result"]
