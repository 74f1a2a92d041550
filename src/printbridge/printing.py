"""Upload and print pages."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from printbridge import submission
from printbridge.auth import login_required
from printbridge.context import cfg
from printbridge.gateway_client import GatewayError
from printbridge.print_options import OptionError, media_name, pages_text
from printbridge.uploads import UploadError

bp = Blueprint("printing", __name__)
bp.add_app_template_filter(media_name, "media_name")
bp.add_app_template_filter(pages_text, "pages_text")
OPTION_FIELDS = ("copies", "page-ranges", "sides", "print-color-mode", "media")


@bp.route("/")
@login_required
def index() -> Any:
    return redirect(url_for("printing.form"))


@bp.route("/print")
@login_required
def form() -> Any:
    printers = submission.printers()
    chosen = request.args.get("printer") or (printers[0]["name"] if printers else "")
    printer = next((p for p in printers if p["name"] == chosen), printers[0] if printers else None)
    return render_template(
        "print.html",
        printers=printers,
        printer=printer,
        uploads=submission.current(),
        mail_domain=cfg()["mail_domain"],
        max_upload_mb=cfg()["max_upload_mb"],
    )


@bp.route("/print/upload", methods=["POST"])
@login_required
def upload() -> Any:
    stored, refused = submission.receive(request.files.getlist("files"))
    for item in stored:
        flash(f"“{item.title}” is ready to print ({pages_text(item.pages)}).", "success")
        for notice in item.notices:
            flash(f"“{item.title}”: {notice}", "info")
    for error in refused:
        flash(error.message, "error")
    if not stored and not refused:
        flash("Choose one or more PDF files first.", "error")
    status = max([e.status for e in refused], default=200) if not stored else 200
    if status >= 400:
        return form(), status
    return redirect(url_for("printing.form", printer=request.form.get("printer") or None))


@bp.route("/print/submit", methods=["POST"])
@login_required
def submit() -> Any:
    printer = request.form.get("printer", "")
    tokens = request.form.getlist("uploads")
    if not tokens:
        flash("Tick at least one document to print.", "error")
        return redirect(url_for("printing.form", printer=printer or None))
    known = submission.printers()
    given = {key: request.form.get(key, "") for key in OPTION_FIELDS}
    for token in tokens:
        title = submission.current().get(token, {}).get("title", "document")
        try:
            job_id = submission.submit(
                token, printer, given, request.form.get("notify") == "yes", known, request.form.get("hold") == "yes"
            )
        except OptionError as error:
            flash(str(error), "error")
            return form(), 400
        except (UploadError, GatewayError) as error:
            flash(error.message, "error")
            return form(), error.status
        held = " It waits until you release it on My jobs." if request.form.get("hold") == "yes" else ""
        flash(f"“{title}” was sent to {printer} as job {job_id}.{held}", "success")
    return redirect(url_for("jobs.mine"))


@bp.route("/print/discard/<token>", methods=["POST"])
@login_required
def discard(token: str) -> Any:
    submission.discard(token)
    return redirect(url_for("printing.form"))


@bp.route("/guide")
def guide() -> Any:
    return render_template("guide.html", settings=cfg())
