"""This device's own state for admins: how its first boot went (written by printbridge-firstboot) and how the join of
its card's Active Directory domain went (printbridge-directory-join; both roles/firstboot)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from printbridge.context import cfg


def _record(setting: str, fields: tuple[str, ...]) -> dict[str, Any] | None:
    """The JSON record in the file the configuration's *setting* names, as strings of *fields*; None without a file,
    status "unknown" when it cannot be read."""
    path = Path(cfg()[setting])
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        return {"status": "unknown", "message": f"{path} cannot be read: {error}"}
    if not isinstance(found, dict):
        return {"status": "unknown", "message": f"{path} does not hold a status record"}
    return {key: str(found.get(key, "")) for key in fields}


def first_boot() -> dict[str, Any] | None:
    """The first boot's outcome (status, message, host name, time, why the card's printbridge.yml was refused);
    None on a host that was not flashed from an image."""
    return _record("firstboot_status_file", ("status", "message", "hostname", "finished", "config_refused"))


def directory_join() -> dict[str, Any] | None:
    """The join of the card's Active Directory domain (status waiting, running, ok or failed; message, domain, time);
    None where a card named no domain."""
    return _record("directory_join_status_file", ("status", "message", "domain", "finished"))
