"""The lab network: one bridge on the machine, one network namespace per host.

Hosts reach the package archive through NAT on the machine. Everything the
harness adds is recorded, so tearing down removes exactly that and restores
the machine's IPv4 forwarding setting as it found it.

The bridge and every namespace also have an IPv6 unique-local address
(Settings.address6), for the hosts to be reached over IPv6 within the lab;
there is no IPv6 uplink and so no IPv6 default route, NAT or forwarding.
"""

from __future__ import annotations

import ipaddress
import json
import zlib
from pathlib import Path

from harness.run import log, run, succeeds
from harness.settings import Settings

FORWARDING = Path("/proc/sys/net/ipv4/ip_forward")
COMMENT = "printbridge-lab"


def _nat_rule(settings: Settings) -> list[str]:
    return [
        "POSTROUTING",
        "-s",
        str(settings.subnet),
        "!",
        "-o",
        settings.bridge,
        "-j",
        "MASQUERADE",
        "-m",
        "comment",
        "--comment",
        COMMENT,
    ]


# The end of every lab rule: marked as the lab's, accepted.
_ACCEPT = ["-m", "comment", "--comment", COMMENT, "-j", "ACCEPT"]


def _forward_rules(settings: Settings) -> list[list[str]]:
    """Let lab traffic through even when the machine's FORWARD policy drops."""
    return [
        ["FORWARD", "-i", settings.bridge, *_ACCEPT],
        ["FORWARD", "-o", settings.bridge, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", *_ACCEPT],
    ]


def _forward_rule6(settings: Settings) -> list[str]:
    """IPv6 between the lab's namespaces, should the machine filter bridged traffic (br_netfilter)."""
    return ["FORWARD", "-i", settings.bridge, "-o", settings.bridge, *_ACCEPT]


def _record(settings: Settings) -> Path:
    return settings.state_dir / "network.json"


def namespace(host: str) -> str:
    return f"pb-{host}"


def ensure_bridge(settings: Settings) -> None:
    """Create the bridge, NAT and forwarding once; later calls only add what is missing of IPv6 (a
    bridge made before the lab had IPv6 gets it, the hosts already on it keep running)."""
    record = _record(settings)
    if not (record.exists() and succeeds(["ip", "link", "show", settings.bridge])):
        _make_bridge(settings)
    _ensure_ipv6(settings)


def _make_bridge(settings: Settings) -> None:
    record = _record(settings)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    if not record.exists():
        record.write_text(json.dumps({"ip_forward": FORWARDING.read_text().strip()}))
    log(f"creating lab bridge {settings.bridge} ({settings.gateway}/{settings.subnet.prefixlen})")
    if not succeeds(["ip", "link", "show", settings.bridge]):
        run(["ip", "link", "add", settings.bridge, "type", "bridge"])
        run(["ip", "addr", "add", f"{settings.gateway}/{settings.subnet.prefixlen}", "dev", settings.bridge])
        run(["ip", "link", "set", settings.bridge, "up"])
    FORWARDING.write_text("1\n")
    if not succeeds(["iptables", "-t", "nat", "-C", *_nat_rule(settings)]):
        run(["iptables", "-t", "nat", "-A", *_nat_rule(settings)])
    for rule in _forward_rules(settings):
        if not succeeds(["iptables", "-C", *rule]):
            run(["iptables", "-I", *rule])


def _ensure_ipv6(settings: Settings) -> None:
    # The bridge is ours: IPv6 on it even where the machine's default turns IPv6 off.
    run(["sysctl", "-q", "-w", f"net.ipv6.conf.{settings.bridge}.disable_ipv6=0"])
    gateway6 = f"{settings.gateway6}/{settings.subnet6.prefixlen}"
    if f" {gateway6} " not in run(["ip", "-6", "-o", "addr", "show", "dev", settings.bridge]).stdout:
        # nodad: usable at once, nothing waits for duplicate address detection.
        run(["ip", "addr", "add", gateway6, "dev", settings.bridge, "nodad"])
    if not succeeds(["ip6tables", "-C", *_forward_rule6(settings)]):
        run(["ip6tables", "-I", *_forward_rule6(settings)])


def remove_bridge(settings: Settings) -> None:
    """Undo ensure_bridge; safe to call when parts are already gone."""
    while succeeds(["iptables", "-t", "nat", "-D", *_nat_rule(settings)]):
        pass
    for rule in _forward_rules(settings):
        while succeeds(["iptables", "-D", *rule]):
            pass
    while succeeds(["ip6tables", "-D", *_forward_rule6(settings)]):
        pass
    if succeeds(["ip", "link", "show", settings.bridge]):
        run(["ip", "link", "del", settings.bridge])
    record = _record(settings)
    if record.exists():
        FORWARDING.write_text(json.loads(record.read_text())["ip_forward"] + "\n")
        record.unlink()
    log(f"removed lab bridge {settings.bridge}")


def check_address(settings: Settings, address: str) -> ipaddress.IPv4Address:
    """Refuse addresses outside the lab subnet or reserved for the bridge."""
    ip = ipaddress.IPv4Address(address)
    if ip not in settings.subnet or ip in (settings.gateway, settings.subnet.broadcast_address):
        raise ValueError(f"{address} is not a host address of the lab subnet {settings.subnet} (gateway excluded)")
    return ip


def add_namespace(settings: Settings, host: str, address: str, *, ipv6: bool = True) -> None:
    """A namespace whose eth0 sits on the lab bridge with *address* and, with *ipv6*, its IPv6 address
    (without DAD, so nothing waits for it; no IPv6 default route, so IPv6 to outside the lab fails at
    once and apt falls back to IPv4 without a timeout)."""
    ns = namespace(host)
    veth = f"vpb{zlib.crc32(host.encode()):08x}"
    # A namespace that was still held open when its host went leaves the veth behind.
    if succeeds(["ip", "link", "show", veth]):
        run(["ip", "link", "del", veth])
    run(["ip", "netns", "add", ns])
    run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
    run(["ip", "link", "set", veth, "master", settings.bridge, "up"])
    run(["ip", "-n", ns, "addr", "add", f"{address}/{settings.subnet.prefixlen}", "dev", "eth0"])
    if ipv6:
        address6 = f"{settings.address6(address)}/{settings.subnet6.prefixlen}"
        run(["ip", "-n", ns, "addr", "add", address6, "dev", "eth0", "nodad"])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(["ip", "-n", ns, "link", "set", "eth0", "up"])
    run(["ip", "-n", ns, "route", "add", "default", "via", str(settings.gateway)])


def remove_namespace(host: str) -> None:
    """Deleting the namespace also deletes the veth pair that ends in it."""
    ns = namespace(host)
    if Path(f"/run/netns/{ns}").exists():
        run(["ip", "netns", "del", ns])


def release(settings: Settings) -> None:
    """The last host or peer out removes the bridge (call with the network lock held)."""
    for directory in (settings.hosts_dir, settings.peers_dir):
        if directory.is_dir() and any(directory.iterdir()):
            return
    remove_bridge(settings)
