"""Recent lines of the queue watchdog's journal, read without root."""

from __future__ import annotations

import datetime
import grp
import json
import subprocess
from typing import Any

from printbridge.gateway.errors import Failure

UNITS = ("printbridge-watchdog.service", "printbridge-queues.service")
# What the admin page shows: the newest actions, newest first.
SHOWN = 20
# Lines read to find them (the timer runs every minute; most runs do nothing).
READ = 2000
# systemd's own lines about the units (PID 1, from init.scope), not actions of the tool.
SYSTEMD_NOISE = ("Starting ", "Started ", "Finished ", "Stopping ", "Stopped ", "Deactivated ", "Consumed ")


def watchdog_log() -> list[dict[str, Any]]:
    """The watchdog's own log lines (each is an action it took), newest first, at most SHOWN.

    journalctl as nobody with the systemd-journal group: enough to read system units' logs.
    Matching _SYSTEMD_UNIT (not -u) keeps only what the units' processes wrote: -u also
    brings systemd's "Starting/Finished/Deactivated" lines for every timer run."""
    try:
        journal_group = grp.getgrnam("systemd-journal").gr_gid
    except KeyError:
        raise Failure("unavailable", "The system journal cannot be read on this host.") from None
    command = ["journalctl", "--no-pager", "-o", "json", "-r", "-n", str(READ)]
    command += [f"_SYSTEMD_UNIT={unit}" for unit in UNITS]
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
    return actions(result.stdout.splitlines())


def actions(lines: list[str]) -> list[dict[str, Any]]:
    """Journal JSON lines (newest first) to the entries worth showing."""
    shown = []
    for line in lines:
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        if record.get("_PID") == "1" or record.get("_SYSTEMD_UNIT") not in UNITS:
            continue
        item = entry(record)
        message = item["message"].strip()
        # Empty lines, systemd's unit messages, and the queues tool's JSON summary ("[]").
        if not message or message.startswith(SYSTEMD_NOISE) or message.startswith(("[", "{")):
            continue
        shown.append(item)
        if len(shown) == SHOWN:
            break
    return shown


def entry(record: dict[str, Any]) -> dict[str, Any]:
    message = record.get("MESSAGE", "")
    if isinstance(message, list):  # journald gives non-UTF-8 messages as byte lists
        message = bytes(message).decode(errors="replace")
    stamp = int(record.get("__REALTIME_TIMESTAMP", 0)) / 1e6
    return {
        "time": datetime.datetime.fromtimestamp(stamp, datetime.UTC).isoformat(timespec="seconds"),
        "unit": record.get("_SYSTEMD_UNIT", ""),
        "message": message,
    }
