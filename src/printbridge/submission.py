"""From upload to CUPS job, shared by the pages and the JSON API.

Uploads belong to the session that made them: the session holds the random
token, title and page count; the file itself is in the spool folder."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from flask import session
from werkzeug.datastructures import FileStorage

from printbridge import uploads
from printbridge.context import call, cfg, user
from printbridge.print_options import OptionError, validate
from printbridge.uploads import Upload, UploadError


def spool() -> Path:
    return Path(cfg()["spool_dir"])


def current() -> dict[str, dict[str, Any]]:
    """This session's uploads that are still on disk (expired ones drop out)."""
    kept = {
        token: meta for token, meta in session.get("uploads", {}).items() if uploads.path_for(spool(), token).exists()
    }
    if kept != session.get("uploads"):
        session["uploads"] = kept
    return kept


def receive(files: Iterable[FileStorage]) -> tuple[list[Upload], list[UploadError]]:
    """Store each file; a bad file does not stop the good ones. Disk full stops the rest."""
    settings = cfg()
    uploads.expire(spool(), settings["upload_ttl_minutes"])
    stored, refused = [], []
    for file in files:
        if not file.filename and not file.content_length:
            continue
        try:
            upload = uploads.store(
                file.stream, file.filename, spool(), settings["max_upload_mb"], settings["max_pages"]
            )
        except UploadError as error:
            refused.append(error)
            if error.status == 507:
                break
            continue
        stored.append(upload)
        session["uploads"] = {**session.get("uploads", {}), upload.token: upload.as_dict()}
    return stored, refused


def discard(token: str) -> None:
    uploads.discard(spool(), token)
    session["uploads"] = {k: v for k, v in session.get("uploads", {}).items() if k != token}


def printers() -> list[dict[str, Any]]:
    return call("printers")


def notify_address(wanted: bool) -> str:
    domain = cfg()["mail_domain"]
    return f"{user()}@{domain}" if wanted and domain else ""


def submit(
    token: str, printer: str, given: Mapping[str, Any], notify: bool, known: list[dict[str, Any]], hold: bool = False
) -> int:
    """Check the options against the printer and the document, hand the file to CUPS, delete it.

    hold: the job waits in CUPS (job-hold-until=indefinite) until the user releases it."""
    meta = current().get(token)
    if meta is None:
        raise UploadError("This upload is gone (it was printed already or expired). Upload it again.", 404)
    found = next((p for p in known if p["name"] == printer), None)
    if found is None:
        raise OptionError("Choose one of the printers offered.")
    options = validate(given, found["capabilities"], meta["pages"])
    if hold:
        options["job-hold-until"] = "indefinite"
    path = uploads.path_for(spool(), token)
    job = call(
        "submit", printer=printer, path=str(path), title=meta["title"], options=options, notify=notify_address(notify)
    )
    discard(token)
    return job["job_id"]
