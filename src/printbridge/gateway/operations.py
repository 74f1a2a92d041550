"""The CUPS operations, each run in a child that already is the user (see sandbox.py).

They talk to cupsd over its local domain socket, where libcups authenticates
with PeerCred: cupsd sees the child's uid, so its policy applies to the user.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import cups

from printbridge.gateway.errors import Failure
from printbridge.gateway.words import JOB_STATES, PRINTER_STATES, printer_message

CUPS_SOCKET = "/run/cups/cups.sock"
CHUNK = 65536
# Get-Printers (getPrinters) leaves out printer-is-accepting-jobs, so each printer is asked.
STATE = [
    "printer-state",
    "printer-state-reasons",
    "printer-is-accepting-jobs",
    "printer-info",
    "printer-location",
    "printer-is-shared",
]
CAPABILITIES = [
    "marker-names",
    "marker-levels",
    "marker-types",
    "marker-colors",
    "media-supported",
    "media-default",
    "sides-supported",
    "sides-default",
    "print-color-mode-supported",
    "print-color-mode-default",
    "copies-supported",
]
JOB_ATTRIBUTES = [
    "job-id",
    "job-name",
    "job-printer-uri",
    "job-originating-user-name",
    "job-state",
    "job-state-reasons",
    "job-impressions-completed",
    "job-media-sheets-completed",
    "time-at-creation",
    "time-at-completed",
    "copies",
]
NOTIFY_EVENTS = ["job-completed", "job-stopped"]
# What "You are not allowed to ..." ends with, per operation.
ACTIONS = {
    "printers": "see the printers",
    "submit": "print on this printer",
    "jobs": "see these jobs",
    "cancel": "cancel this job",
    "hold": "hold this job",
    "release": "release this job",
    "reprint": "reprint this job",
    "purge": "purge this job",
    "move": "move this job",
    "pause": "pause this printer",
    "resume": "resume this printer",
    "accept": "let this printer accept jobs",
    "reject": "make this printer reject jobs",
    "health": "check the printers",
}


def connect(user: str) -> cups.Connection:
    cups.setServer(CUPS_SOCKET)
    cups.setUser(user)
    # Only PeerCred: never prompt for (or send) a password.
    cups.setPasswordCB(lambda *_: "")
    try:
        return cups.Connection()
    except RuntimeError:
        raise Failure("cups_unavailable", "The print service (CUPS) is not running.") from None


def plain_error(action: str, error: Exception) -> Failure:
    """A CUPS error as the user should read it."""
    if isinstance(error, cups.HTTPError):
        status, text = error.args[0], ""
        if status in (cups.HTTP_FORBIDDEN, cups.HTTP_UNAUTHORIZED):
            return Failure("forbidden", f"You are not allowed to {ACTIONS[action]}.")
    else:
        status, text = error.args[0], str(error.args[1]) if len(error.args) > 1 else ""
    if status in (cups.IPP_FORBIDDEN, cups.IPP_NOT_AUTHORIZED, cups.IPP_NOT_AUTHENTICATED):
        return Failure("forbidden", f"You are not allowed to {ACTIONS[action]}.")
    if status == cups.IPP_NOT_FOUND:
        return Failure("not_found", "There is no such job or printer.")
    if status == cups.IPP_NOT_ACCEPTING:
        return Failure("not_accepting", "The printer is not accepting jobs.")
    if status == cups.IPP_NOT_POSSIBLE:
        return Failure("not_possible", f"This cannot be done now: {text}" if text else "This cannot be done now.")
    if status in (cups.IPP_SERVICE_UNAVAILABLE, cups.HTTP_ERROR) or status < 0:
        return Failure("cups_unavailable", "The print service (CUPS) is not answering.")
    return Failure("cups_error", f"CUPS refused: {text}" if text else "CUPS refused the request.")


def guarded(action: str, user: str, work: Any) -> Any:
    conn = connect(user)
    try:
        return work(conn)
    except (cups.IPPError, cups.HTTPError) as error:
        raise plain_error(action, error) from None


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def printer_summary(name: str, attrs: dict[str, Any]) -> dict[str, Any]:
    state = PRINTER_STATES.get(attrs.get("printer-state", 3), "stopped")
    accepting = bool(attrs.get("printer-is-accepting-jobs", False))
    reasons = [r for r in as_list(attrs.get("printer-state-reasons")) if r != "none"]
    return {
        "name": name,
        "info": attrs.get("printer-info", "") or name,
        "location": attrs.get("printer-location", ""),
        "state": state,
        "accepting": accepting,
        "state_reasons": reasons,
        "message": printer_message(state, accepting, reasons),
        # A queue not shared (printer-is-shared false) is a local one, e.g. at reception.
        "shared": bool(attrs.get("printer-is-shared", True)),
    }


def max_copies(value: Any) -> int:
    # copies-supported is a range (1, 9999); pycups gives a tuple.
    if isinstance(value, tuple | list) and len(value) == 2:
        return int(value[1])
    return int(value) if isinstance(value, int) else 1


def printers(user: str) -> list[dict[str, Any]]:
    def work(conn: cups.Connection) -> list[dict[str, Any]]:
        found = []
        for name in sorted(conn.getPrinters()):
            caps = conn.getPrinterAttributes(name, requested_attributes=STATE + CAPABILITIES)
            summary = printer_summary(name, caps)
            names = as_list(caps.get("marker-names"))
            levels = as_list(caps.get("marker-levels"))
            types = as_list(caps.get("marker-types"))
            colors = as_list(caps.get("marker-colors"))
            summary["markers"] = [
                {
                    "name": marker,
                    "level": levels[i] if i < len(levels) else -1,
                    "type": types[i] if i < len(types) else "",
                    "color": colors[i] if i < len(colors) else "",
                }
                for i, marker in enumerate(names)
            ]
            summary["capabilities"] = {
                "media": as_list(caps.get("media-supported")),
                "media_default": caps.get("media-default", ""),
                "sides": as_list(caps.get("sides-supported")) or ["one-sided"],
                "sides_default": caps.get("sides-default", "one-sided"),
                "color_modes": as_list(caps.get("print-color-mode-supported")),
                "color_mode_default": caps.get("print-color-mode-default", ""),
                "max_copies": max_copies(caps.get("copies-supported")),
            }
            found.append(summary)
        return found

    return guarded("printers", user, work)


def health(user: str) -> dict[str, Any]:
    def work(conn: cups.Connection) -> dict[str, Any]:
        states = [
            printer_summary(name, conn.getPrinterAttributes(name, requested_attributes=STATE))
            for name in sorted(conn.getPrinters())
        ]
        return {"printers": [{k: p[k] for k in ("name", "state", "accepting", "message")} for p in states]}

    return guarded("health", user, work)


def submit(user: str, fd: int, printer: str, title: str, options: dict[str, str], notify: str) -> dict[str, int]:
    """Create the job and stream the document from the fd the root parent opened.

    The user cannot open the 0600 spool file (not even through /proc/self/fd,
    which checks the file's own permissions), so the data is sent from the fd."""

    def work(conn: cups.Connection) -> dict[str, int]:
        job_id = conn.createJob(printer, title, options)
        try:
            conn.startDocument(printer, job_id, title, "application/pdf", 1)
            while chunk := os.read(fd, CHUNK):
                conn.writeRequestData(chunk, len(chunk))
            conn.finishDocument(printer)
        except (cups.IPPError, cups.HTTPError, OSError):
            conn.cancelJob(job_id, purge_job=True)
            raise
        if notify:
            conn.createSubscription(
                f"ipp://localhost/printers/{printer}",
                events=NOTIFY_EVENTS,
                job_id=job_id,
                recipient_uri=f"mailto:{notify}",
            )
        return {"job_id": job_id}

    return guarded("submit", user, work)


def job_summary(job_id: int, attrs: dict[str, Any]) -> dict[str, Any]:
    pages = attrs.get("job-impressions-completed") or attrs.get("job-media-sheets-completed") or 0
    return {
        "id": job_id,
        "printer": str(attrs.get("job-printer-uri", "")).rsplit("/", 1)[-1],
        "title": attrs.get("job-name", ""),
        "owner": attrs.get("job-originating-user-name", ""),
        "state": JOB_STATES.get(attrs.get("job-state", 0), "unknown"),
        "reasons": [r for r in as_list(attrs.get("job-state-reasons")) if r != "none"],
        "pages": pages,
        "copies": attrs.get("copies", 1),
        "created": attrs.get("time-at-creation") or None,
        "completed": attrs.get("time-at-completed") or None,
    }


def sign_in(conn: cups.Connection) -> None:
    """Make the connection authenticated before asking for jobs.

    cupsd shows a job's private values (name, owner) only to an authenticated
    owner or admin, but Get-Jobs itself needs no authentication, so libcups
    would never send any. A GET of /admin/conf/ (protected in every cupsd.conf)
    makes cupsd ask; libcups answers with PeerCred and keeps the credentials for
    the connection's later requests. The GET itself changes nothing."""
    # 403 for users outside SystemGroup: the credentials are kept all the same.
    with contextlib.suppress(cups.HTTPError):
        conn.getFile("/admin/conf/", "/dev/null")


def jobs(user: str, which: str, all_users: bool) -> list[dict[str, Any]]:
    def work(conn: cups.Connection) -> list[dict[str, Any]]:
        sign_in(conn)
        found = conn.getJobs(which_jobs=which, my_jobs=not all_users, requested_attributes=JOB_ATTRIBUTES)
        return [job_summary(job_id, attrs) for job_id, attrs in sorted(found.items(), reverse=True)]

    return guarded("jobs", user, work)


def job_action(user: str, action: str, job_id: int) -> dict[str, int]:
    def work(conn: cups.Connection) -> dict[str, int]:
        if action == "cancel":
            conn.cancelJob(job_id)
        elif action == "purge":
            conn.cancelJob(job_id, purge_job=True)
        elif action == "hold":
            conn.setJobHoldUntil(job_id, "indefinite")
        elif action == "release":
            # cupsd releases a held job when its hold is set to no-hold (what lp -H resume does).
            conn.setJobHoldUntil(job_id, "no-hold")
        elif action == "reprint":
            conn.restartJob(job_id)
        return {"job_id": job_id}

    return guarded(action, user, work)


def move(user: str, job_id: int, printer: str) -> dict[str, Any]:
    def work(conn: cups.Connection) -> dict[str, Any]:
        conn.moveJob(job_id=job_id, job_printer_uri=f"ipp://localhost/printers/{printer}")
        return {"job_id": job_id, "printer": printer}

    return guarded("move", user, work)


def printer_control(user: str, printer: str, action: str) -> dict[str, str]:
    def work(conn: cups.Connection) -> dict[str, str]:
        reason = f"by {user} (PrintBridge)"
        if action == "pause":
            conn.disablePrinter(printer, reason=f"Paused {reason}")
        elif action == "resume":
            conn.enablePrinter(printer)
        elif action == "accept":
            conn.acceptJobs(printer)
        elif action == "reject":
            conn.rejectJobs(printer, reason=f"Rejecting jobs {reason}")
        return {"printer": printer, "action": action}

    return guarded(action, user, work)
