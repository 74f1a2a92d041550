"""The lab harness: cache keys, address checks, IPv6 addresses, and cleanup after a failed create."""

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import network, rootfs, vm
from harness.__main__ import boot_files
from harness.network import check_address
from harness.run import HarnessError
from harness.settings import Settings, load

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = Settings(
    state_dir=Path("/nonexistent"),
    cache_dir=Path("/nonexistent"),
    subnet=ipaddress.IPv4Network("10.213.0.0/24"),
    bridge="pbbr0",
    mirror="http://deb.debian.org/debian",
)


def test_cache_key_follows_the_recipe():
    key = rootfs.cache_key("trixie", "amd64", SETTINGS.mirror)
    assert key == rootfs.cache_key("trixie", "amd64", SETTINGS.mirror)
    assert key == rootfs.cache_key("trixie", "amd64", SETTINGS.mirror, tuple(reversed(rootfs.PACKAGES)))
    assert key != rootfs.cache_key("bookworm", "amd64", SETTINGS.mirror)
    assert key != rootfs.cache_key("trixie", "arm64", SETTINGS.mirror)
    assert key != rootfs.cache_key("trixie", "amd64", SETTINGS.mirror, (*rootfs.PACKAGES, "vim"))
    # The Lite tree of the image stage's test: its first user shapes it too.
    lite = rootfs.cache_key("trixie", "arm64", SETTINGS.mirror, first_user="pbadmin")
    assert lite != rootfs.cache_key("trixie", "arm64", SETTINGS.mirror)
    assert lite != rootfs.cache_key("trixie", "arm64", SETTINGS.mirror, first_user="pi")


def test_unknown_architecture_refused():
    with pytest.raises(ValueError, match="architecture"):
        rootfs.ensure(SETTINGS, "trixie", "riscv64")


@pytest.mark.parametrize("address", ["10.213.0.1", "10.213.0.255", "10.213.1.5", "192.168.1.10"])
def test_addresses_outside_the_lab_are_refused(address):
    with pytest.raises(ValueError, match="lab subnet"):
        check_address(SETTINGS, address)


def test_lab_host_address_accepted():
    assert str(check_address(SETTINGS, "10.213.0.99")) == "10.213.0.99"


@pytest.mark.parametrize(
    ("address", "address6"),
    [
        ("10.213.0.1", "fd13:213::1"),
        ("10.213.0.7", "fd13:213::7"),
        ("10.213.0.21", "fd13:213::15"),
        ("10.213.0.100", "fd13:213::64"),
        ("10.213.0.254", "fd13:213::fe"),
    ],
)
def test_ipv6_address_is_the_host_number_in_the_lab_prefix(address, address6):
    assert SETTINGS.address6(address) == ipaddress.IPv6Address(address6)


def test_bridge_is_the_first_ipv6_address():
    assert SETTINGS.gateway6 == ipaddress.IPv6Address("fd13:213::1")


def lab_settings(subnet, subnet6):
    """Settings for another lab network, nothing on disk."""
    return Settings(
        state_dir=Path("/nonexistent"),
        cache_dir=Path("/nonexistent"),
        subnet=ipaddress.IPv4Network(subnet),
        subnet6=ipaddress.IPv6Network(subnet6),
        bridge="pbbr9",
        mirror=SETTINGS.mirror,
    )


def test_ipv6_mapping_follows_both_subnets():
    settings = lab_settings("10.99.4.0/23", "fd00:99:4::/64")
    assert settings.address6("10.99.5.2") == ipaddress.IPv6Address("fd00:99:4::102")
    assert settings.gateway6 == ipaddress.IPv6Address("fd00:99:4::1")


def test_ipv6_of_an_address_outside_the_lab_is_refused():
    with pytest.raises(ValueError, match="lab subnet"):
        SETTINGS.address6("10.213.1.5")


def test_ipv6_prefix_too_small_for_the_subnet_is_refused():
    with pytest.raises(ValueError, match="too small"):
        lab_settings("10.213.0.0/24", "fd13:213::/121")


def test_ipv6_prefix_from_the_environment(monkeypatch):
    monkeypatch.delenv("PB_LAB_SUBNET6", raising=False)
    assert load().subnet6 == ipaddress.IPv6Network("fd13:213::/64")
    monkeypatch.setenv("PB_LAB_SUBNET6", "fd42:1::/112")
    assert load().subnet6 == ipaddress.IPv6Network("fd42:1::/112")
    monkeypatch.setenv("PB_LAB_SUBNET6", "fd42:1::/130")
    with pytest.raises(ValueError):
        load()


class Commands:
    """Stands in for harness.run's run/succeeds in harness.network: records commands, answers from *links*
    (what `ip -6 -o addr show dev` prints) and *existing* (commands that succeed)."""

    def __init__(self, addresses="", existing=()):
        self.calls, self.addresses, self.existing = [], addresses, existing

    def run(self, cmd):
        self.calls.append(list(cmd))
        stdout = self.addresses if cmd[:4] == ["ip", "-6", "-o", "addr"] else ""
        return subprocess.CompletedProcess(cmd, 0, stdout, "")

    def succeeds(self, cmd):
        self.calls.append(list(cmd))
        return any(list(cmd[: len(prefix)]) == list(prefix) for prefix in self.existing)


def test_namespace_gets_its_ipv6_address_without_dad_and_no_ipv6_default_route(monkeypatch):
    commands = Commands()
    monkeypatch.setattr(network, "run", commands.run)
    monkeypatch.setattr(network, "succeeds", commands.succeeds)
    network.add_namespace(SETTINGS, "pb-x", "10.213.0.21")
    assert ["ip", "-n", "pb-pb-x", "addr", "add", "fd13:213::15/64", "dev", "eth0", "nodad"] in commands.calls
    routes = [c for c in commands.calls if c[:4] == ["ip", "-n", "pb-pb-x", "route"]]
    assert routes == [["ip", "-n", "pb-pb-x", "route", "add", "default", "via", "10.213.0.1"]]


def test_card_namespace_stays_ipv4_only(monkeypatch):
    commands = Commands()
    monkeypatch.setattr(network, "run", commands.run)
    monkeypatch.setattr(network, "succeeds", commands.succeeds)
    network.add_namespace(SETTINGS, "pb-card", "10.213.0.34", ipv6=False)
    assert not [c for c in commands.calls if any(":" in word for word in c)]


@pytest.mark.parametrize("has_address6", [False, True])
def test_existing_bridge_gets_ipv6_once(monkeypatch, tmp_path, has_address6):
    """A bridge made before the lab had IPv6 (hosts running on it) is kept and given the address it lacks."""
    settings = Settings(**{**SETTINGS.__dict__, "state_dir": tmp_path})
    (tmp_path / "network.json").write_text('{"ip_forward": "0"}')
    shown = "494: pbbr0    inet6 fe80::1/64 scope link \\       valid_lft forever preferred_lft forever\n"
    if has_address6:
        shown += "494: pbbr0    inet6 fd13:213::1/64 scope global nodad \\       valid_lft forever\n"
    commands = Commands(shown, existing=[("ip", "link", "show")])
    monkeypatch.setattr(network, "run", commands.run)
    monkeypatch.setattr(network, "succeeds", commands.succeeds)
    network.ensure_bridge(settings)
    assert not [c for c in commands.calls if c[:3] == ["ip", "link", "add"] or c[0] == "iptables"]
    added = ["ip", "addr", "add", "fd13:213::1/64", "dev", "pbbr0", "nodad"]
    assert (added in commands.calls) != has_address6
    # Bridged IPv6 between the namespaces passes a machine whose FORWARD chain drops (br_netfilter).
    rule = ["FORWARD", "-i", "pbbr0", "-o", "pbbr0", "-m", "comment", "--comment", "printbridge-lab", "-j", "ACCEPT"]
    assert ["ip6tables", "-I", *rule] in commands.calls


def harness(*args, env):
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="the harness needs root; scripts/test runs as root")
def test_failed_create_leaves_nothing_behind(tmp_path):
    # systemd-nspawn refuses the machine name, after the overlay, network
    # namespace and bridge were made: all of them must be gone afterwards.
    env = dict(os.environ, PB_LAB_STATE=str(tmp_path), PB_LAB_BRIDGE="pbbrtest", PB_LAB_SUBNET="10.213.9.0/24")
    result = harness("create", "bad_name", "--suite", "trixie", "--address", "10.213.9.5", env=env)
    assert result.returncode == 1
    assert "error:" in result.stderr
    assert not (tmp_path / "hosts" / "bad_name").exists()
    assert not Path("/run/netns/pb-bad_name").exists()
    assert subprocess.run(["ip", "link", "show", "pbbrtest"], capture_output=True, check=False).returncode != 0
    assert "bad_name" not in Path("/proc/mounts").read_text()
    nat = subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True, check=True).stdout
    assert "10.213.9.0/24" not in nat
    forward6 = subprocess.run(["ip6tables", "-S", "FORWARD"], capture_output=True, text=True, check=True).stdout
    assert "pbbrtest" not in forward6
    assert json.loads(harness("list", env=env).stdout) == []


def test_card_disk_is_laid_out_as_pi_gen_exports_it(tmp_path):
    """A bootfs FAT partition with the boot files, an ext4 rootfs with the tree and the card's fstab;
    the tree itself keeps its own fstab."""
    tree = tmp_path / "tree"
    (tree / "boot").mkdir(parents=True)
    (tree / "etc").mkdir()
    (tree / "boot/vmlinuz-6.1.0-1-amd64").write_text("kernel")
    (tree / "boot/initrd.img-6.1.0-1-amd64").write_text("initrd")
    (tree / "etc/fstab").write_text("# the tree's own\n")
    (tree / "etc/hostname").write_text("printbridge\n")
    (tree / "boot/firmware/overlays").mkdir(parents=True)
    (tree / "boot/firmware/cmdline.txt").write_text("console=tty1 root=LABEL=rootfs\n")
    (tree / "boot/firmware/overlays/README").write_text("overlays\n")
    settings_file = tmp_path / "printbridge.yml"
    settings_file.write_text("hostname: reception\n")
    disk = tmp_path / "card" / "disk.img"
    disk.parent.mkdir()

    vm.assemble(tree, disk, {"printbridge.yml": settings_file})

    table = json.loads(subprocess.run(["sfdisk", "--json", str(disk)], capture_output=True, check=True).stdout)
    parts = table["partitiontable"]["partitions"]
    assert [p["type"] for p in parts] == ["c", "83"]
    assert parts[0]["start"] * 512 == 1024 * 1024 and parts[0]["size"] * 512 == vm.BOOT_MB * 1024 * 1024
    boot = subprocess.run(
        ["mtype", "-i", f"{disk}@@1M", "::printbridge.yml"], capture_output=True, text=True, check=True
    ).stdout
    assert boot == "hostname: reception\n"
    for path, text in (("cmdline.txt", "console=tty1 root=LABEL=rootfs\n"), ("overlays/README", "overlays\n")):
        copied = subprocess.run(["mtype", "-i", f"{disk}@@1M", f"::{path}"], capture_output=True, text=True)
        assert copied.stdout == text, path
    label = subprocess.run(
        ["mlabel", "-s", "-i", f"{disk}@@1M", "::"], capture_output=True, text=True, check=True
    ).stdout
    assert "bootfs" in label.lower()
    root = tmp_path / "root.img"
    subprocess.run(["dd", f"if={disk}", f"of={root}", "bs=1M", f"skip={1 + vm.BOOT_MB}", "status=none"], check=True)

    def cat(path):
        return subprocess.run(["debugfs", "-R", f"cat {path}", str(root)], capture_output=True, text=True).stdout

    assert cat("/etc/fstab") == vm.FSTAB
    assert cat("/etc/hostname") == "printbridge\n"
    listed = subprocess.run(["debugfs", "-R", "ls -p /boot/firmware", str(root)], capture_output=True, text=True)
    assert "/.//" in listed.stdout, listed.stdout  # the mount point is there, empty
    assert "cmdline.txt" not in listed.stdout and "overlays" not in listed.stdout
    assert subprocess.run(["e2label", str(root)], capture_output=True, text=True).stdout.strip() == "rootfs"
    assert (tree / "etc/fstab").read_text() == "# the tree's own\n"
    assert (disk.parent / "vmlinuz").read_text() == "kernel"
    assert (disk.parent / "initrd.img").read_text() == "initrd"


def test_card_needs_a_kernel_in_the_tree(tmp_path):
    (tmp_path / "boot").mkdir()
    with pytest.raises(HarnessError, match="no kernel"):
        vm.assemble(tmp_path, tmp_path / "disk.img", {})


def test_boot_files_are_plain_names_of_existing_files(tmp_path):
    config = tmp_path / "printbridge.yml"
    config.write_text("hostname: desk\n")
    assert boot_files([f"printbridge.yml={config}"]) == {"printbridge.yml": config}
    for wrong in [str(config), f"../printbridge.yml={config}", f"={config}", f"x.yml={tmp_path / 'missing'}"]:
        with pytest.raises(HarnessError, match="NAME=PATH"):
            boot_files([wrong])
