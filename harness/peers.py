"""Lab peers: bare network namespaces on the lab bridge.

They play the office PCs of a LAN: tests run the machine's own client programs
(lp, ipptool, Python) inside them with `ip netns exec pb-NAME ...`.
"""

from __future__ import annotations

import json

from harness import network
from harness.run import HarnessError, locked, log
from harness.settings import Settings


def names(settings: Settings) -> list[str]:
    if not settings.peers_dir.is_dir():
        return []
    return sorted(p.stem for p in settings.peers_dir.glob("*.json"))


def create(settings: Settings, name: str, address: str) -> dict[str, str]:
    """Make peer *name* at *address*; on failure remove what was made."""
    record = settings.peers_dir / f"{name}.json"
    if record.exists():
        raise HarnessError(f"peer {name} exists already; destroy it first")
    network.check_address(settings, address)
    settings.peers_dir.mkdir(parents=True, exist_ok=True)
    peer = {
        "name": name,
        "address": address,
        "address6": str(settings.address6(address)),
        "namespace": network.namespace(name),
    }
    record.write_text(json.dumps(peer))
    try:
        with locked(settings.state_dir / ".network.lock"):
            network.ensure_bridge(settings)
            network.add_namespace(settings, name, address)
    except BaseException:
        destroy(settings, name)
        raise
    log(f"peer {name} at {address}")
    return peer


def destroy(settings: Settings, name: str) -> bool:
    """Remove the peer's namespace; False when there is no such peer."""
    record = settings.peers_dir / f"{name}.json"
    if not record.exists():
        return False
    with locked(settings.state_dir / ".network.lock"):
        network.remove_namespace(name)
        record.unlink()
        network.release(settings)
    log(f"destroyed peer {name}")
    return True
