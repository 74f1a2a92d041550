"""Where the harness keeps its state and caches, and the lab network's shape."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Paths and network parameters, overridable from the environment."""

    state_dir: Path
    cache_dir: Path
    subnet: ipaddress.IPv4Network
    bridge: str
    mirror: str
    # The first user every lab host is made with (Raspberry Pi Imager's user).
    admin_user: str = "pbadmin"

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        """The host side of the lab bridge: first address of the subnet."""
        return next(self.subnet.hosts())

    @property
    def hosts_dir(self) -> Path:
        return self.state_dir / "hosts"

    @property
    def peers_dir(self) -> Path:
        return self.state_dir / "peers"

    @property
    def ssh_key(self) -> Path:
        """Private key the controller uses to reach lab hosts as root."""
        return self.state_dir / "id_ed25519"


def load() -> Settings:
    """Read the settings, with defaults that suit a dedicated test machine."""
    return Settings(
        state_dir=Path(os.environ.get("PB_LAB_STATE", "/var/lib/printbridge-lab")),
        cache_dir=Path(os.environ.get("PB_LAB_CACHE", "/var/cache/printbridge-lab")),
        subnet=ipaddress.IPv4Network(os.environ.get("PB_LAB_SUBNET", "10.213.0.0/24")),
        bridge=os.environ.get("PB_LAB_BRIDGE", "pbbr0"),
        mirror=os.environ.get("PB_LAB_MIRROR", "http://deb.debian.org/debian"),
    )
