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
from printbridge.context import call, cfg, is_admin, user
from printbridge.print_options import OptionError, validate
from printbridge.uploads import Upload, UploadError


def spool() -> Path:
    return Path(cfg()["spool_dir"])


def current() -> dict[str, dict[str, Any]]:
    """This session's uploads that are still on disk (expired ones drop out), in upload order.

    The session is stored as JSON with sorted keys, so the random tokens would come back
    in random order: each upload carries its position ("seq") and is sorted by it."""
    saved = session.get("uploads", {})
    ordered = sorted(saved.items(), key=lambda item: item[1].get("seq", 0))
    kept = {token: meta for token, meta in ordered if uploads.path_for(spool(), token).exists()}
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
        saved = session.get("uploads", {})
        seq = max((meta.get("seq", 0) for meta in saved.values()), default=0) + 1
        session["uploads"] = {**saved, upload.token: {**upload.as_dict(), "seq": seq}}
    return stored, refused


def discard(token: str) -> None:
    uploads.discard(spool(), token)
    session["uploads"] = {k: v for k, v in session.get("uploads", {}).items() if k != token}


def printers() -> list[dict[str, Any]]:
    """The printers this user may print on here: shared queues; administrators also get local ones.

    A queue that is not shared (printer-is-shared false) is meant for its own place
    (reception's local queue), so office staff are not offered it."""
    found = call("printers")
    return found if is_admin() else [p for p in found if p.get("shared", True)]


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
