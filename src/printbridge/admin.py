"""Print administrators: all jobs, printer control, purge and move, supply levels, the watchdog's recent actions."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from printbridge.auth import admin_required
from printbridge.context import call, list_jobs
from printbridge.device import directory_join, first_boot
from printbridge.gateway_client import GatewayError

bp = Blueprint("admin", __name__, url_prefix="/admin")
PRINTER_ACTIONS = {"pause": "paused", "resume": "resumed", "accept": "accepting jobs", "reject": "rejecting jobs"}


@bp.route("/")
@admin_required
def index() -> Any:
    try:
        watchdog = call("watchdog_log")
    except GatewayError as error:
        watchdog, error_message = [], error.message
    else:
        error_message = ""
    return render_template(
        "admin.html",
        printers=call("printers"),
        jobs=list_jobs("not-completed", all_users=True),
        watchdog=watchdog,
        watchdog_error=error_message,
        first_boot=first_boot(),
        directory_join=directory_join(),
    )


def done(message: str, error: GatewayError | None = None) -> Any:
    flash(error.message if error else message, "error" if error else "success")
    return redirect(url_for("admin.index")), 303


@bp.route("/printers/<name>/<any(pause, resume, accept, reject):action>", methods=["POST"])
@admin_required
def printer_control(name: str, action: str) -> Any:
    try:
        call("printer_control", printer=name, action=action)
    except GatewayError as error:
        return done("", error)
    return done(f"{name} is {PRINTER_ACTIONS[action]}.")


@bp.route("/jobs/<int:job_id>/purge", methods=["POST"])
@admin_required
def purge(job_id: int) -> Any:
    try:
        call("purge", job_id=job_id)
    except GatewayError as error:
        return done("", error)
    return done(f"Job {job_id} was cancelled and purged.")


@bp.route("/jobs/<int:job_id>/move", methods=["POST"])
@admin_required
def move(job_id: int) -> Any:
    printer = request.form.get("printer", "")
    try:
        call("move", job_id=job_id, printer=printer)
    except GatewayError as error:
        return done("", error)
    return done(f"Job {job_id} was moved to {printer}.")
