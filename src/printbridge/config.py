"""Settings of the web app and the gateway: one TOML file, every key with a default."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_PATH = "/etc/printbridge/web.toml"

DEFAULTS: dict[str, Any] = {
    "gateway_socket": "/run/printbridge/gateway.sock",
    "secret_key_file": "/var/lib/printbridge/web/secret_key",
    "spool_dir": "/var/lib/printbridge/web/uploads",
    "state_dir": "/var/lib/printbridge/web",
    "max_upload_mb": 25,
    "max_pages": 500,
    "upload_ttl_minutes": 30,
    "print_groups": ["pbprint"],
    "admin_group": "pbprintadmin",
    "session_idle_minutes": 15,
    "login_max_attempts": 5,
    "login_lockout_minutes": 15,
    "site_name": "PrintBridge",
    "mail_domain": "",
    "firstboot_status_file": "/var/lib/printbridge/firstboot.json",
    "directory_join_status_file": "/var/lib/printbridge/directory-join.json",
}


class ConfigError(ValueError):
    """The configuration names a key we do not know or has a value of the wrong type."""


def load(path: str | Path | None = None) -> dict[str, Any]:
    """Read the TOML file (env PRINTBRIDGE_CONFIG, else /etc/printbridge/web.toml); a missing file means defaults."""
    path = Path(path or os.environ.get("PRINTBRIDGE_CONFIG", DEFAULT_PATH))
    values: dict[str, Any] = {}
    if path.exists():
        with path.open("rb") as handle:
            values = tomllib.load(handle)
    return merge(values)


def merge(values: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults overlaid with the given values, refusing unknown keys and wrong types early."""
    unknown = sorted(set(values) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown configuration keys: {', '.join(unknown)}")
    config = dict(DEFAULTS)
    for key, value in values.items():
        expected = type(DEFAULTS[key])
        if not isinstance(value, expected) or isinstance(value, bool) != isinstance(DEFAULTS[key], bool):
            raise ConfigError(f"{key} must be a {expected.__name__}")
        config[key] = value
    return config
