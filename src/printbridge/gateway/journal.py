"""Recent lines of the queue watchdog's journal, read without root."""

from __future__ import annotations

import datetime
import grp
import json
import subprocess
from typing import Any

from printbridge.gateway.errors import Failure

UNITS = ("printbridge-watchdog.service", "printbridge-queues.service")
LINES = 50


def watchdog_log() -> list[dict[str, Any]]:
    """journalctl as nobody with the systemd-journal group: enough to read system units' logs."""
    try:
        journal_group = grp.getgrnam("systemd-journal").gr_gid
    except KeyError:
        raise Failure("unavailable", "The system journal cannot be read on this host.") from None
    command = ["journalctl", "--no-pager", "-o", "json", "-n", str(LINES)]
    for unit in UNITS:
        command += ["-u", unit]
    try:
        result = subprocess.run(
            command,
            user="nobody",
            group="nogroup",
            extra_groups=[journal_group],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        raise Failure("unavailable", "The system journal cannot be read right now.") from None
    return [entry(line) for line in result.stdout.splitlines() if line.startswith("{")]


def entry(line: str) -> dict[str, Any]:
    record = json.loads(line)
    message = record.get("MESSAGE", "")
    if isinstance(message, list):  # journald gives non-UTF-8 messages as byte lists
        message = bytes(message).decode(errors="replace")
    stamp = int(record.get("__REALTIME_TIMESTAMP", 0)) / 1e6
    return {
        "time": datetime.datetime.fromtimestamp(stamp, datetime.UTC).isoformat(timespec="seconds"),
        "unit": record.get("_SYSTEMD_UNIT", ""),
        "message": message,
    }
