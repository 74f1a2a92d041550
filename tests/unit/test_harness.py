"""The lab harness: cache keys, address checks, and cleanup after a failed create."""

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import rootfs
from harness.network import check_address
from harness.settings import Settings

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
    assert json.loads(harness("list", env=env).stdout) == []
