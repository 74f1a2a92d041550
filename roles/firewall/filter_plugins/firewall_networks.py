"""Network filters for the firewall role, with Python's ipaddress (no netaddr needed on the controller)."""

import ipaddress
import re

from ansible.errors import AnsibleFilterError


def _network(value: object) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        return None


def firewall_invalid_networks(values: list) -> list:
    """The entries of *values* that are not IPv4/IPv6 networks (CIDR) or addresses."""
    return [value for value in values if _network(value) is None]


def firewall_networks(values: list, version: int) -> list[str]:
    """The IPv*version* entries of *values* as iptables-save prints them (host bits cleared, /32 or /128 added)."""
    networks = []
    for value in values:
        network = _network(value)
        if network is None:
            raise AnsibleFilterError(f"{value!r} is not an IP network")
        if network.version == version and str(network) not in networks:
            networks.append(str(network))
    return networks


def firewall_address_in(address: str, values: list) -> bool:
    """Whether *address* lies in one of the networks *values*."""
    return any(ipaddress.ip_address(address) in network for network in map(_network, values) if network)


def firewall_rule_lines(text: str, foreign: str) -> list[str]:
    """The rules in iptables-save output or a rules file without comments, blank lines, counters, and
    lines that match *foreign* (chains of other services): what two rule sets must share to be the same."""
    lines = (re.sub(r"\[\d+:\d+\]$", "[0:0]", line.strip()) for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#") and not re.search(foreign, line)]


class FilterModule:
    def filters(self) -> dict:
        return {
            "firewall_invalid_networks": firewall_invalid_networks,
            "firewall_networks": firewall_networks,
            "firewall_address_in": firewall_address_in,
            "firewall_rule_lines": firewall_rule_lines,
        }
