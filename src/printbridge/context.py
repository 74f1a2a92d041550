"""What views share: the settings, the gateway client, the signed-in user."""

from __future__ import annotations

from typing import Any

from flask import current_app, session

from printbridge.gateway_client import Gateway
from printbridge.throttle import Throttle


def cfg() -> dict[str, Any]:
    return current_app.config["PRINTBRIDGE"]


def gateway() -> Gateway:
    return current_app.extensions["printbridge.gateway"]


def throttle() -> Throttle:
    return current_app.extensions["printbridge.throttle"]


def user() -> str | None:
    return session.get("user")


def is_admin() -> bool:
    return bool(session.get("is_admin"))


def call(op: str, **fields: Any) -> Any:
    """A gateway operation on behalf of the signed-in user."""
    return gateway().call(op, user=user(), **fields)
