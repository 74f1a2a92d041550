"""/healthz for monitoring: the app, cupsd and each printer's state; no sign-in and no user data."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from printbridge.context import gateway
from printbridge.gateway_client import GatewayError

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz() -> Any:
    body: dict[str, Any] = {"app": "ok", "cupsd": "ok", "printers": []}
    try:
        body["printers"] = gateway().call("health")["printers"]
    except GatewayError as error:
        body["cupsd"] = "unreachable" if error.code == "cups_unavailable" else f"unknown ({error.code})"
    return jsonify(body), 200 if body["cupsd"] == "ok" else 503
