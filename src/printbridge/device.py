"""This device's own state for admins: how its first boot went (written by printbridge-firstboot, roles/firstboot)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from printbridge.context import cfg


def first_boot() -> dict[str, Any] | None:
    """The first boot's outcome (status, message, host name, time, why the card's printbridge.yml was refused);
    None on a host that was not flashed from an image."""
    path = Path(cfg()["firstboot_status_file"])
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        return {"status": "unknown", "message": f"{path} cannot be read: {error}"}
    if not isinstance(found, dict):
        return {"status": "unknown", "message": f"{path} does not hold a first-boot record"}
    return {key: str(found.get(key, "")) for key in ("status", "message", "hostname", "finished", "config_refused")}
