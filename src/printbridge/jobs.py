"""The user's own jobs (live), their history, and hold/release/cancel/reprint."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from printbridge import submission
from printbridge.auth import login_required
from printbridge.context import job_action, list_jobs
from printbridge.gateway_client import GatewayError

bp = Blueprint("jobs", __name__)
ACTIONS = {"hold": "held", "release": "released", "cancel": "cancelled", "reprint": "sent again"}


@bp.route("/jobs")
@login_required
def mine() -> Any:
    return render_template("jobs.html", jobs=list_jobs("not-completed"), printers=submission.printers())


@bp.route("/jobs/history")
@login_required
def history() -> Any:
    return render_template("history.html", jobs=list_jobs("completed"))


@bp.route("/jobs/<int:job_id>/<any(hold, release, cancel, reprint):action>", methods=["POST"])
@login_required
def act(job_id: int, action: str) -> Any:
    if request.form.get("back") == "admin":
        back = url_for("admin.index")
    else:
        back = url_for("jobs.history" if action == "reprint" else "jobs.mine")
    try:
        job_action(action, job_id)
    except GatewayError as error:
        flash(f"Job {job_id}: {error.message}", "error")
    else:
        flash(f"Job {job_id} was {ACTIONS[action]}.", "success")
    return redirect(back), 303
