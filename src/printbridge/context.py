"""What views share: the settings, the gateway client, the signed-in user."""

from __future__ import annotations

from typing import Any

from flask import current_app, session

from printbridge.gateway_client import Gateway
from printbridge.runs import Runs
from printbridge.throttle import Throttle


def cfg() -> dict[str, Any]:
    return current_app.config["PRINTBRIDGE"]


def gateway() -> Gateway:
    return current_app.extensions["printbridge.gateway"]


def throttle() -> Throttle:
    return current_app.extensions["printbridge.throttle"]


def runs() -> Runs:
    return current_app.extensions["printbridge.runs"]


def user() -> str | None:
    return session.get("user")


def is_admin() -> bool:
    return bool(session.get("is_admin"))


def call(op: str, **fields: Any) -> Any:
    """A gateway operation on behalf of the signed-in user."""
    return gateway().call(op, user=user(), **fields)


def list_jobs(which: str, all_users: bool = False) -> list[dict[str, Any]]:
    """The user's (or with all_users, everybody's) jobs, with pages per run."""
    return runs().annotate(call("jobs", which=which, all_users=all_users))


def job_action(action: str, job_id: int) -> Any:
    """Hold, release, cancel or reprint a job; a reprint notes the pages printed so far."""
    if action != "reprint":
        return call(action, job_id=job_id)
    before = next((job for job in call("jobs", which="completed", all_users=is_admin()) if job["id"] == job_id), None)
    result = call(action, job_id=job_id)
    if before is not None:
        runs().reprinted(before)
    return result
