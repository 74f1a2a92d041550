"""/healthz for monitoring: the app, cupsd, each printer's state, the first boot's and the directory join's verdicts;
no sign-in and no user data."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from printbridge.context import gateway
from printbridge.device import directory_join, first_boot
from printbridge.gateway_client import GatewayError

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz() -> Any:
    booted, joined = first_boot(), directory_join()
    body: dict[str, Any] = {
        "app": "ok",
        "cupsd": "ok",
        "printers": [],
        # Only the verdict here (no sign-in): the reasons are on the admin page.
        "first_boot": booted and {"status": booted["status"], "config_refused": bool(booted.get("config_refused"))},
        "directory_join": joined and {"status": joined["status"]},
    }
    try:
        body["printers"] = gateway().call("health")["printers"]
    except GatewayError as error:
        body["cupsd"] = "unreachable" if error.code == "cups_unavailable" else f"unknown ({error.code})"
    return jsonify(body), 200 if body["cupsd"] == "ok" else 503
