"""The firewall: default-deny for IPv4 and IPv6 as inventory says, seen from the lab peers (office PC, admin
workstation, a foreign host) over both, the services answering over IPv6, SSH rate limit, and re-runs that
neither lock out nor cut an open session."""

import ipaddress
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import in_peer, run_roles

from harness.hosts import SSH_OPTIONS
from harness.network import namespace

ROOT = Path(__file__).resolve().parents[2]
FAMILIES = {4: ("iptables", "/etc/iptables/rules.v4"), 6: ("ip6tables", "/etc/iptables/rules.v6")}
# fail2ban (role hardening) adds chains of its own; they are not ours to compare.
FOREIGN = re.compile(r"(^:| )f2b-")


def rules(text):
    """Rule lines of iptables-save output or a rules file: no comments, no counters, no fail2ban chains."""
    lines = (re.sub(r"\[\d+:\d+\]$", "[0:0]", line.strip()) for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#") and not FOREIGN.search(line)]


def loaded(host, version):
    with host.sudo():
        return rules(host.check_output(f"{FAMILIES[version][0]}-save -t filter"))


@pytest.fixture
def settings(hostvars):
    """The firewall variables as the converge used them (inventory, else the role's defaults)."""
    defaults = yaml.safe_load((ROOT / "roles/firewall/defaults/main.yml").read_text())
    office = hostvars.get("firewall_office_networks", defaults["firewall_office_networks"])
    return {
        "office": [ipaddress.ip_network(n, strict=False) for n in office],
        "admin": [ipaddress.ip_network(n, strict=False) for n in hostvars.get("firewall_admin_networks", office)],
        "ports": set(hostvars.get("firewall_office_tcp_ports", defaults["firewall_office_tcp_ports"])),
        "ssh_rate": hostvars.get("firewall_ssh_rate", defaults["firewall_ssh_rate"]),
    }


def peer_address(peer, version=4):
    output = in_peer(peer, "ip", f"-{version}", "-o", "address", "show", "dev", "eth0", "scope", "global", check=True)
    return ipaddress.ip_address(output.stdout.split()[3].split("/")[0])


@pytest.fixture
def addresses(host, hostvars):
    """The host's address in each IP version: inventory's, and its IPv6 one on the lab network (harness)."""
    shown = host.check_output("ip -6 -o address show scope global").split()
    assert len(shown) > 3, "the host has no global IPv6 address: made by a harness without IPv6?"
    return {4: hostvars["ansible_host"], 6: shown[3].split("/")[0]}


def expected_ports(settings, address):
    ports = set(settings["ports"]) if any(address in n for n in settings["office"]) else set()
    return ports | ({22} if any(address in n for n in settings["admin"]) else set())


def scan(peer, address, *options):
    """nmap from a peer: {port: state} of every port it did not find filtered (over IPv6 for an IPv6 *address*)."""
    family = ["-6"] if ipaddress.ip_address(address).version == 6 else []
    result = in_peer(
        peer, "nmap", *family, "-Pn", "-n", "--max-retries", "1", "-oG", "-", *options, address, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return {int(p): s for p, s in re.findall(r"(\d+)/([a-z|]+)/(?:tcp|udp)/", result.stdout)}


@pytest.mark.parametrize("version", FAMILIES)
def test_inbound_is_denied_by_default(host, version):
    with host.sudo():
        policies = host.check_output(f"{FAMILIES[version][0]} -S").splitlines()
    assert {"-P INPUT DROP", "-P FORWARD DROP", "-P OUTPUT ACCEPT"} <= set(policies)


@pytest.mark.parametrize("version", FAMILIES)
def test_loaded_rules_are_the_persisted_ones(host, version):
    """What runs is what netfilter-persistent loads at boot (in the image scenario: what it did load)."""
    with host.sudo():
        persisted = rules(host.file(FAMILIES[version][1]).content_string)
    assert loaded(host, version) == persisted


def test_rules_load_at_boot(host):
    assert host.service("netfilter-persistent").is_enabled
    assert host.service("netfilter-persistent").is_running


@pytest.mark.parametrize("version", FAMILIES)
@pytest.mark.parametrize("peer", ["office", "admin", "foreign"])
def test_each_peer_reaches_only_its_ports(addresses, settings, peer, version):
    expected = expected_ports(settings, peer_address(peer, version))
    if peer == "foreign":
        assert not expected, "the foreign peer lies in an office or admin network"
    elif not expected:
        pytest.fail(f"the {peer} peer's IPv{version} address is in no office or admin network of the inventory")
    # Every TCP port: all but the expected are filtered (dropped), not even closed.
    found = scan(peer, addresses[version], "-sS", "-p-", "--min-rate", "10000")
    assert found == dict.fromkeys(expected, "open")


@pytest.mark.parametrize("version", FAMILIES)
@pytest.mark.parametrize("peer", ["office", "foreign"])
def test_ping_only_from_known_networks(addresses, settings, peer, version):
    known = any(peer_address(peer, version) in n for n in settings["office"] + settings["admin"])
    assert known == (peer == "office")
    # ICMP echo only: on the same link nmap would otherwise ask ARP (IPv6: neighbour discovery), which the
    # firewall lets through.
    family = ["-6"] if version == 6 else []
    result = in_peer(peer, "nmap", *family, "-sn", "-PE", "--disable-arp-ping", "-n", "-oG", "-", addresses[version])
    assert ("Status: Up" in result.stdout) == known


@pytest.mark.parametrize("version", FAMILIES)
def test_no_udp_ipp(host, addresses, version):
    """UDP 631 (cups-browsed's, CVE-2024-47176) is neither served nor let through."""
    assert not host.socket("udp://0.0.0.0:631" if version == 4 else "udp://:::631").is_listening
    assert scan("office", addresses[version], "-sU", "-p", "631").get(631) != "open"


def test_services_answer_over_ipv6(hostvars, addresses, lab_state):
    """Not just open ports: the web app (TLS, by the name the certificate carries) and cupsd (IPP) answer the
    office PC over IPv6."""
    name = f"{hostvars['inventory_hostname']}.{hostvars['base_domain']}"
    address6 = addresses[6]
    web = in_peer(
        "office",
        *("curl", "-sS", "--max-time", "30", "--cacert", str(lab_state / "ca" / "ca.crt")),
        *("--resolve", f"{name}:443:[{address6}]", f"https://{name}/healthz"),
        timeout=60,
    )
    assert web.returncode == 0, web.stderr
    assert yaml.safe_load(web.stdout)["cupsd"] == "ok", web.stdout
    ipp = in_peer(
        "office",
        *("ipptool", "-t", "-T", "30", f"ipp://[{address6}]:631/printers/office-ipp", "get-printer-attributes.test"),
        timeout=60,
    )
    assert ipp.returncode == 0 and "[PASS]" in ipp.stdout, ipp.stdout + ipp.stderr


def test_ipps_over_ipv6(hostvars, addresses, lab_state, tmp_path):
    """IPPS over IPv6, by address and by name. Before the handshake cupsd knows only its own address and picks
    the certificate by it; an IPv6 address that begins with a letter (the lab's fd13:...) counts as a host
    name there, so the cups role serves the certificate under it too."""
    address6 = addresses[6]
    # By address, verifying the certificate for it: curl, which sends no SNI for an address (RFC 6066).
    # CUPS's own clients send the address as SNI, and GnuTLS servers, cupsd among them, refuse that.
    web = in_peer(
        "office",
        *("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "30"),
        *("--cacert", str(lab_state / "ca" / "ca.crt"), f"https://[{address6}]:631/printers/office-ipp"),
        timeout=60,
    )
    assert web.stdout == "200", web.stderr
    # By name, as office PCs print: ipptool, with the name resolving to the IPv6 address only.
    name = f"{hostvars['inventory_hostname']}.{hostvars['base_domain']}"
    hosts = tmp_path / "hosts"
    hosts.write_text(f"{address6} {name}\n")
    ipp = in_peer(
        "office",
        *("unshare", "--mount", "sh", "-c", 'mount --bind "$1" /etc/hosts && exec ipptool -t -T 30 "$2" "$3"'),
        *("sh", str(hosts), f"ipps://{name}:631/printers/office-ipp", "get-printer-attributes.test"),
        timeout=60,
    )
    assert ipp.returncode == 0 and "[PASS]" in ipp.stdout, ipp.stdout + ipp.stderr


def test_ssh_new_connections_are_rate_limited(host, hostvars, settings):
    """From the admin workstation: after a burst of firewall_ssh_rate new connections further ones are dropped,
    and one more gets through once the rate has refilled. fail2ban's sshd jail (aggressive mode) would ban
    the workstation for the burst's bare connections within seconds: a defence of its own, so it ignores
    the workstation while the firewall alone is measured."""
    probe = """
import socket, sys, time
address, attempts = sys.argv[1], int(sys.argv[2])
def connect():
    try:
        socket.create_connection((address, 22), timeout=2).close()
        return True
    except OSError:
        return False
made = 0
while made < attempts and connect():
    made += 1
print(made)
time.sleep(float(sys.argv[3]))
print(connect())
"""
    rate = settings["ssh_rate"]
    workstation = str(peer_address("admin"))
    with host.sudo():
        host.check_output("fail2ban-client set sshd addignoreip %s", workstation)
        host.check_output("fail2ban-client unban %s", workstation)  # no earlier ban in the way
    try:
        # The probe's refused SYNs (and their retransmissions) count against the limit too: wait for
        # two tokens, not one.
        burst, refill = str(rate + 5), str(120 / rate + 1)
        result = in_peer("admin", sys.executable, "-c", probe, hostvars["ansible_host"], burst, refill, check=True)
    finally:
        with host.sudo():
            host.check_output("fail2ban-client set sshd delignoreip %s", workstation)
    made, again = result.stdout.split()
    assert 0 < int(made) <= rate
    assert again == "True"


def firewall_run(hostvars, pytestconfig, tmp_path, *options, **extra_vars):
    """Run only the firewall role against this host, as an admin would, with options and extra variables."""
    return run_roles(hostvars, pytestconfig, tmp_path, ["firewall"], *options, **extra_vars)


@pytest.fixture
def restore_rules(hostvars, pytestconfig, tmp_path):
    """Converge the firewall as inventory says again after a test changed it."""
    yield
    result = firewall_run(hostvars, pytestconfig, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.usefixtures("restore_rules")
def test_changing_rules_keeps_an_open_ssh_session(host, hostvars, settings, pytestconfig, tmp_path):
    session = subprocess.Popen(
        [
            *("ssh", *SSH_OPTIONS, "-o", "ControlPath=none", "-i", hostvars["ansible_private_key_file"]),
            f"pbadmin@{hostvars['ansible_host']}",
            "read line; echo alive",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(2)  # signed in before the rules change
        ports = sorted(settings["ports"] | {8631})
        result = firewall_run(hostvars, pytestconfig, tmp_path, firewall_office_tcp_ports=ports)
        assert result.returncode == 0, result.stdout[-3000:]
        assert "-A printbridge-office -p tcp -m tcp --dport 8631 -j ACCEPT" in loaded(host, 4)
        output, _ = session.communicate("\n", timeout=30)
    finally:
        session.kill()
    assert output.strip() == "alive"


def test_check_mode_reports_new_rules_and_changes_nothing(host, hostvars, settings, pytestconfig, tmp_path):
    before = {version: loaded(host, version) for version in FAMILIES}
    with host.sudo():
        persisted = host.file(FAMILIES[4][1]).content_string
    ports = sorted(settings["ports"] | {8631})
    result = firewall_run(hostvars, pytestconfig, tmp_path, "--check", firewall_office_tcp_ports=ports)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Would load the IPv4 and IPv6 rules" in result.stdout, result.stdout[-3000:]
    assert {version: loaded(host, version) for version in FAMILIES} == before
    with host.sudo():
        assert host.file(FAMILIES[4][1]).content_string == persisted
        assert not host.service("printbridge-firewall-rollback.timer").is_running


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        ({"firewall_admin_networks": ["10.213.0.300/32"]}, "not: 10.213.0.300/32"),
        ({"firewall_office_networks": ["10.213.0.0/29", "office"]}, "not: office"),
        ({"firewall_admin_networks": ["192.0.2.0/24"]}, "Add this address"),
    ],
    ids=["bad-address", "not-a-network", "controller-locked-out"],
)
def test_broken_rules_are_refused_and_running_ones_stay(host, hostvars, pytestconfig, tmp_path, extra_vars, message):
    before = {version: loaded(host, version) for version in FAMILIES}
    result = firewall_run(hostvars, pytestconfig, tmp_path, **extra_vars)
    assert result.returncode != 0
    assert message in result.stdout
    assert {version: loaded(host, version) for version in FAMILIES} == before
    with host.sudo():
        assert rules(host.file(FAMILIES[4][1]).content_string) == before[4]


# ssh's ProxyCommand for the lockout test: the run's first connection (the one Ansible keeps open with
# ControlPersist, and whose address the role's pre-check reads) comes from the admin workstation's
# namespace; every later one from this machine itself.
SHIFTING_PROXY = """
import os, socket, sys, threading
host, port, first, namespace = sys.argv[1:]
try:
    os.mkdir(first)
except FileExistsError:
    pass
else:
    with open(f"/run/netns/{namespace}") as ns:
        os.setns(ns.fileno(), os.CLONE_NEWNET)
sock = socket.create_connection((host, int(port)), timeout=10)
sock.settimeout(None)
def upstream():
    while data := os.read(0, 65536):
        sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)
threading.Thread(target=upstream, daemon=True).start()
while data := sock.recv(65536):
    os.write(1, data)
"""


def ssh_works(hostvars):
    """A new SSH connection from this machine (no multiplexing) signs in."""
    command = ["ssh", *SSH_OPTIONS, "-o", "ControlPath=none", "-o", "ConnectTimeout=10"]
    command += ["-i", hostvars["ansible_private_key_file"], f"pbadmin@{hostvars['ansible_host']}", "true"]
    return subprocess.run(command, capture_output=True, timeout=60, check=False).returncode == 0


@pytest.mark.default_only
@pytest.mark.usefixtures("restore_rules")
def test_a_lockout_the_pre_check_cannot_see_is_rolled_back(host, hostvars, pytestconfig, tmp_path, tmp_path_factory):
    """New rules that lock the controller out are rolled back, and the persisted ones stay as they were.

    The role refuses up front admin networks without the address this run comes from (validate.yml;
    test_broken_rules_are_refused_and_running_ones_stay), so that pre-check has to pass for a lockout to
    happen at all. It passes, and is still wrong, when the controller's next connection comes from
    another address than the running one: a NAT pool, IPv6 temporary addresses, a VPN that reconnects.
    Here the run's connection comes through the admin workstation (in firewall_admin_networks, which
    then holds only it) and every new one from this machine (10.213.0.1, left out): the role's
    confirmation over a new connection (it drops the ControlPersist master first) cannot get through,
    and the host must go back to its previous rules by itself. The safety net restores the saved rules
    from this machine through the host's network namespace, without SSH, should that fail."""
    host_namespace = namespace(hostvars["inventory_hostname"])
    saved = {
        version: subprocess.run(
            ["ip", "netns", "exec", host_namespace, f"{FAMILIES[version][0]}-save", "-t", "filter"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for version in FAMILIES
    }
    before = {version: rules(saved[version]) for version in FAMILIES}
    with host.sudo():
        persisted = {version: rules(host.file(FAMILIES[version][1]).content_string) for version in FAMILIES}
    proxy = tmp_path / "proxy.py"
    proxy.write_text(SHIFTING_PROXY)
    # The admin workstation's namespace, by the name in_peer resolves.
    admin = in_peer("admin", "ip", "netns", "identify", check=True).stdout.strip()
    try:
        result = firewall_run(
            hostvars,
            pytestconfig,
            tmp_path,
            firewall_admin_networks=[f"{peer_address('admin')}/32"],
            ansible_ssh_extra_args=f"-o 'ProxyCommand={sys.executable} {proxy} %h %p {tmp_path / 'first'} {admin}'",
            # A master connection of its own: one left by an earlier run would carry this run from
            # this machine.
            ansible_control_path_dir=str(tmp_path_factory.getbasetemp() / "lockout"),
        )
        assert (tmp_path / "first").exists(), "the run came through the admin workstation"
        assert result.returncode != 0, result.stdout[-3000:]
        assert "The new rules locked this controller out" in result.stdout, result.stdout[-3000:]
        assert {version: loaded(host, version) for version in FAMILIES} == before
        with host.sudo():
            assert {version: rules(host.file(FAMILIES[version][1]).content_string) for version in FAMILIES} == (
                persisted
            ), "what loads at boot is what ran before"
        assert ssh_works(hostvars)
    finally:
        if not ssh_works(hostvars):
            for version, text in saved.items():
                restore = ["ip", "netns", "exec", host_namespace, f"{FAMILIES[version][0]}-restore", "-T", "filter"]
                subprocess.run(restore, input=text, text=True, check=True)
