"""/api/v1: the same operations as the pages, as JSON, for the pages' own scripts and for tools.

Authenticated by the session cookie, so unsafe methods need the CSRF token in
the X-CSRFToken header (Flask-WTF checks it for every POST)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask_wtf.csrf import generate_csrf

from printbridge import openapi, submission
from printbridge.auth import admin_required, login_required
from printbridge.context import call, is_admin, job_action, list_jobs, user
from printbridge.gateway_client import GatewayError
from printbridge.print_options import OptionError
from printbridge.uploads import UploadError

bp = Blueprint("api", __name__, url_prefix="/api/v1")
JOB_ACTIONS = ("hold", "release", "cancel", "reprint")
PRINTER_ACTIONS = ("pause", "resume", "accept", "reject")


def body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def refused(status: int, code: str, message: str) -> Any:
    return jsonify(error=code, message=message), status


@bp.route("/openapi.json")
def openapi_document() -> Any:
    return jsonify(openapi.document())


@bp.route("/me")
@login_required
def me() -> Any:
    return jsonify(user=user(), is_admin=is_admin(), csrf_token=generate_csrf())


@bp.route("/printers")
@login_required
def printers() -> Any:
    return jsonify(submission.printers())


@bp.route("/uploads", methods=["GET"])
@login_required
def list_uploads() -> Any:
    return jsonify([{"token": token, **meta} for token, meta in submission.current().items()])


@bp.route("/uploads", methods=["POST"])
@login_required
def upload() -> Any:
    stored, refusals = submission.receive(request.files.getlist("files"))
    if refusals and not stored:
        worst = max(refusals, key=lambda e: e.status)
        return jsonify(error="upload", message=worst.message, errors=[e.message for e in refusals]), worst.status
    if not stored:
        return refused(400, "upload", "Send one or more PDF files in the 'files' field.")
    return jsonify(uploads=[u.as_dict() for u in stored], errors=[e.message for e in refusals]), 201


@bp.route("/uploads/<token>", methods=["DELETE"])
@login_required
def delete_upload(token: str) -> Any:
    submission.discard(token)
    return "", 204


@bp.route("/jobs", methods=["GET"])
@login_required
def jobs() -> Any:
    which = request.args.get("which", "not-completed")
    if which not in ("not-completed", "completed", "all"):
        return refused(400, "bad_request", "which must be not-completed, completed or all.")
    return jsonify(list_jobs(which, all_users=request.args.get("all_users") in ("1", "true")))


@bp.route("/jobs", methods=["POST"])
@login_required
def submit() -> Any:
    data = body()
    options = data.get("options") if isinstance(data.get("options"), dict) else {}
    try:
        job_id = submission.submit(
            str(data.get("upload", "")),
            str(data.get("printer", "")),
            options,
            bool(data.get("notify")),
            submission.printers(),
            hold=data.get("hold") is True,
        )
    except OptionError as error:
        return refused(400, "bad_option", str(error))
    except UploadError as error:
        return refused(error.status, "upload", error.message)
    return jsonify(job_id=job_id), 201


def job_action_view(action: str) -> Any:
    @login_required
    def view(job_id: int) -> Any:
        return jsonify(job_action(action, job_id))

    view.__name__ = f"job_{action}"
    return view


for _action in JOB_ACTIONS:
    bp.add_url_rule(f"/jobs/<int:job_id>/{_action}", view_func=job_action_view(_action), methods=["POST"])


@bp.route("/admin/jobs/<int:job_id>/purge", methods=["POST"])
@admin_required
def purge(job_id: int) -> Any:
    return jsonify(call("purge", job_id=job_id))


@bp.route("/admin/jobs/<int:job_id>/move", methods=["POST"])
@admin_required
def move(job_id: int) -> Any:
    return jsonify(call("move", job_id=job_id, printer=str(body().get("printer", ""))))


def printer_action(action: str) -> Any:
    @admin_required
    def view(name: str) -> Any:
        return jsonify(call("printer_control", printer=name, action=action))

    view.__name__ = f"printer_{action}"
    return view


for _action in PRINTER_ACTIONS:
    bp.add_url_rule(f"/admin/printers/<name>/{_action}", view_func=printer_action(_action), methods=["POST"])


@bp.route("/admin/watchdog")
@admin_required
def watchdog() -> Any:
    return jsonify(call("watchdog_log"))


@bp.errorhandler(GatewayError)
def gateway_error(error: GatewayError) -> Any:
    return refused(error.status, error.code, error.message)
