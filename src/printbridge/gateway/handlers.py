"""One handler per operation: check the request and the user, then run the work as that user."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from printbridge.gateway import accounts, journal, operations
from printbridge.gateway.accounts import Account
from printbridge.gateway.errors import Failure
from printbridge.gateway.sandbox import run_as

PRINTER_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,127}$")
OPTION_NAMES = ("copies", "page-ranges", "sides", "print-color-mode", "media", "job-hold-until")
# "Hold until I release it": the job waits in CUPS until the user releases it.
HOLD_VALUES = ("indefinite",)
OPTION_VALUE = re.compile(r"^[A-Za-z0-9_.,-]{1,64}$")
EMAIL = re.compile(r"^[A-Za-z0-9_.+-]{1,64}@[A-Za-z0-9.-]{1,190}$")
# CUPS job ids are IPP integers (signed 32 bits); a larger number cannot name a job
# (and pycups would raise OverflowError converting it).
MAX_JOB_ID = 2**31 - 1
JOB_WHICH = ("not-completed", "completed", "all")
JOB_ACTIONS = ("cancel", "hold", "release", "reprint")
PRINTER_ACTIONS = ("pause", "resume", "accept", "reject")
# Get-Printers needs no authentication: the health check asks as nobody, never as root.
NOBODY = Account("nobody", 65534, 65534, (), False)


@dataclass(frozen=True)
class Settings:
    print_groups: list[str]
    admin_group: str
    spool_dir: Path
    pam_service: str


def text(request: dict[str, Any], key: str, limit: int = 255) -> str:
    value = request.get(key)
    if not isinstance(value, str) or not value or len(value) > limit or "\0" in value:
        raise Failure("bad_request", f"'{key}' is missing or invalid.")
    return value


def job_id(request: dict[str, Any]) -> int:
    value = request.get("job_id")
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise Failure("bad_request", "'job_id' is missing or invalid.")
    if value > MAX_JOB_ID:
        raise Failure("not_found", "There is no such job.")
    return value


def printer(request: dict[str, Any]) -> str:
    name = text(request, "printer")
    if not PRINTER_NAME.match(name):
        raise Failure("bad_request", "'printer' is not a printer name.")
    return name


def choice(request: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str:
    value = request.get(key)
    if value not in allowed:
        raise Failure("bad_request", f"'{key}' must be one of {', '.join(allowed)}.")
    return value


def options(request: dict[str, Any]) -> dict[str, str]:
    """Only the options the print form offers; the app has checked them against the printer's capabilities."""
    given = request.get("options") or {}
    if not isinstance(given, dict) or set(given) - set(OPTION_NAMES):
        raise Failure("bad_request", f"Only these options are allowed: {', '.join(OPTION_NAMES)}.")
    for value in given.values():
        if not isinstance(value, str) or not OPTION_VALUE.match(value):
            raise Failure("bad_request", "An option value is invalid.")
    if given.get("job-hold-until", HOLD_VALUES[0]) not in HOLD_VALUES:
        raise Failure("bad_request", "job-hold-until may only be indefinite.")
    return dict(given)


def open_spool_file(settings: Settings, path: str) -> int:
    """Open (as root) a regular file directly inside spool_dir, never following a link."""
    candidate = Path(path)
    spool = settings.spool_dir.resolve()
    if not candidate.is_absolute() or candidate.parent.resolve() != spool or candidate.name in ("", ".", ".."):
        raise Failure("bad_request", "The document is not in the upload folder.")
    try:
        fd = os.open(candidate, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        raise Failure("not_found", "The uploaded document is gone (it may have expired).") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise Failure("bad_request", "The document is not a regular file.")
    return fd


class Handlers:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.table: dict[str, Callable[[dict[str, Any]], Any]] = {
            "authenticate": self.authenticate,
            "printers": self.printers,
            "health": self.health,
            "submit": self.submit,
            "jobs": self.jobs,
            "purge": self.purge,
            "move": self.move,
            "printer_control": self.printer_control,
            "watchdog_log": self.watchdog_log,
        }
        for action in JOB_ACTIONS:
            self.table[action] = self.job_action

    def account(self, request: dict[str, Any]) -> Account:
        return accounts.lookup(request.get("user"), self.settings.print_groups, self.settings.admin_group)

    def admin(self, request: dict[str, Any]) -> Account:
        account = self.account(request)
        if not account.is_admin:
            raise Failure("forbidden", "Only print administrators may do this.")
        return account

    def authenticate(self, request: dict[str, Any]) -> dict[str, Any]:
        s = self.settings
        account = accounts.authenticate(
            request.get("user"), request.get("password"), s.pam_service, s.print_groups, s.admin_group
        )
        return account.summary()

    def printers(self, request: dict[str, Any]) -> Any:
        account = self.account(request)
        return run_as(account, operations.printers, account.name)

    def health(self, request: dict[str, Any]) -> Any:
        return run_as(NOBODY, operations.health, NOBODY.name)

    def submit(self, request: dict[str, Any]) -> Any:
        account = self.account(request)
        name, title, opts = printer(request), text(request, "title"), options(request)
        notify = request.get("notify") or ""
        if not isinstance(notify, str) or (notify and not EMAIL.match(notify)):
            raise Failure("bad_request", "'notify' is not an e-mail address.")
        fd = open_spool_file(self.settings, text(request, "path", 4096))
        try:
            return run_as(account, operations.submit, account.name, fd, name, title, opts, notify)
        finally:
            os.close(fd)

    def jobs(self, request: dict[str, Any]) -> Any:
        account = self.account(request)
        which = choice(request, "which", JOB_WHICH)
        all_users = bool(request.get("all_users")) and account.is_admin
        return run_as(account, operations.jobs, account.name, which, all_users)

    def job_action(self, request: dict[str, Any]) -> Any:
        account = self.account(request)
        return run_as(account, operations.job_action, account.name, request["op"], job_id(request))

    def purge(self, request: dict[str, Any]) -> Any:
        account = self.admin(request)
        return run_as(account, operations.job_action, account.name, "purge", job_id(request))

    def move(self, request: dict[str, Any]) -> Any:
        account = self.account(request)
        return run_as(account, operations.move, account.name, job_id(request), printer(request))

    def printer_control(self, request: dict[str, Any]) -> Any:
        account = self.account(request)
        action = choice(request, "action", PRINTER_ACTIONS)
        return run_as(account, operations.printer_control, account.name, printer(request), action)

    def watchdog_log(self, request: dict[str, Any]) -> Any:
        self.admin(request)
        return journal.watchdog_log()
