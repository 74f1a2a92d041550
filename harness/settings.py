"""Where the harness keeps its state and caches, and the lab network's shape."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

# The lab's IPv6 unique-local prefix (PB_LAB_SUBNET6); the lab has no IPv6 uplink.
DEFAULT_SUBNET6 = ipaddress.IPv6Network("fd13:213::/64")


@dataclass(frozen=True)
class Settings:
    """Paths and network parameters, overridable from the environment."""

    state_dir: Path
    cache_dir: Path
    subnet: ipaddress.IPv4Network
    bridge: str
    mirror: str
    # Host number N of the IPv4 subnet is N here too (address6).
    subnet6: ipaddress.IPv6Network = DEFAULT_SUBNET6
    # The first user every lab host is made with (Raspberry Pi Imager's user).
    admin_user: str = "pbadmin"

    def __post_init__(self) -> None:
        if self.subnet6.num_addresses < self.subnet.num_addresses:
            raise ValueError(f"IPv6 prefix {self.subnet6} is too small for the host numbers of {self.subnet}")

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        """The host side of the lab bridge: first address of the subnet."""
        return next(self.subnet.hosts())

    @property
    def gateway6(self) -> ipaddress.IPv6Address:
        """The host side of the lab bridge in IPv6: the gateway's own host number (::1)."""
        return self.address6(self.gateway)

    def address6(self, address: ipaddress.IPv4Address | str) -> ipaddress.IPv6Address:
        """The IPv6 address of a lab address: its host number in the IPv4 subnet, added to the IPv6
        prefix (10.213.0.21 is fd13:213::15: hex, as IPv6 is written)."""
        ip = ipaddress.IPv4Address(address)
        if ip not in self.subnet:
            raise ValueError(f"{address} is not in the lab subnet {self.subnet}")
        return self.subnet6.network_address + (int(ip) - int(self.subnet.network_address))

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
        subnet6=ipaddress.IPv6Network(os.environ.get("PB_LAB_SUBNET6", str(DEFAULT_SUBNET6))),
        bridge=os.environ.get("PB_LAB_BRIDGE", "pbbr0"),
        mirror=os.environ.get("PB_LAB_MIRROR", "http://deb.debian.org/debian"),
    )
