"""The image as a flashed card (image scenario only): the converged tree, assembled into a disk the way
pi-gen exports a card (FAT ``bootfs`` + ext4 ``rootfs``), booted in a virtual machine with its own kernel
(molecule/image/boot.yml does that before the tree boots as a container). What a container cannot show is
checked here: the card's partitions, AppArmor confining cupsd, auditd's rules in the kernel, the firewall
loaded at boot, and a first boot that makes every card unique.

The VM is emulated (QEMU TCG: this machine's KVM cannot run a Linux guest), some twenty times slower than
the container, so the whole suite runs on the container and only these checks on the card."""

import json
import re

import pytest
import testinfra
from conftest import in_office, in_peer

from harness import hosts, settings

CARD = "pb-card"
pytestmark = pytest.mark.image_only


@pytest.fixture(scope="module")
def card_address():
    found = hosts.load(settings.load(), CARD)
    assert found is not None and found.vm, f"{CARD} was not booted as a card (molecule/image/boot.yml)"
    return found.address


@pytest.fixture(scope="module")
def card(card_address):
    lab = settings.load()
    return testinfra.get_host(
        f"ssh://{lab.admin_user}@{card_address}",
        ssh_identity_file=str(lab.ssh_key),
        ssh_extra_args=" ".join(hosts.SSH_OPTIONS),
        sudo=True,
    )


def test_booted_from_its_own_partitions(card):
    assert card.check_output("systemd-detect-virt") == "qemu"
    assert card.check_output("findmnt -no SOURCE,FSTYPE /").split() == ["/dev/vda2", "ext4"]
    assert card.check_output("findmnt -no SOURCE,FSTYPE /boot/firmware").split() == ["/dev/vda1", "vfat"]
    assert card.check_output("systemctl is-system-running") == "running"


def test_apparmor_confines_cupsd(card):
    profiles = card.check_output("cat /sys/kernel/security/apparmor/profiles")
    assert "/usr/sbin/cupsd (enforce)" in profiles
    card.check_output("lpstat -r")  # cupsd may wait for its socket: a request starts it
    pid = card.check_output("pidof cupsd")
    assert card.check_output(f"cat /proc/{pid}/attr/current") == "/usr/sbin/cupsd (enforce)"


def test_audit_rules_are_in_the_kernel(card):
    assert card.service("auditd").is_running
    installed = card.file("/etc/audit/rules.d/50-printbridge.rules").content_string
    watched = re.findall(r"^-w (\S+)", installed, re.M)
    assert watched
    loaded = card.check_output("auditctl -l")
    for path in watched:
        # The kernel reports a directory watch without its trailing slash.
        assert f"-w {path.rstrip('/')} " in loaded, f"{path} not watched: {loaded}"


def test_firewall_loaded_at_boot(card, card_address):
    assert "-P INPUT DROP" in card.check_output("iptables -S INPUT")
    assert "-P INPUT DROP" in card.check_output("ip6tables -S INPUT")
    scan = in_peer("office", "nmap", "-Pn", "-n", "-p", "22,443,631", "-oG", "-", card_address, timeout=300)
    found = dict(re.findall(r"(\d+)/([a-z|]+)/tcp/", scan.stdout))
    # The office reaches the web app and IPPS; SSH only from the admin networks.
    assert found == {"22": "filtered", "443": "open", "631": "open"}, scan.stdout


def test_web_app_answers_on_the_card(card_address):
    result = in_office("curl", "-sk", "--max-time", "120", f"https://{card_address}/healthz", timeout=150)
    health = json.loads(result.stdout)
    assert (health["app"], health["cupsd"]) == ("ok", "ok"), result.stdout


def test_kernel_settings_are_in_force(card):
    """The sysctl file a container can only write is applied by the card's own kernel at boot."""
    written = card.file("/etc/sysctl.d/90-printbridge-hardening.conf").content_string
    wanted = dict(re.findall(r"^([\w./-]+)\s*=\s*(\S+)\s*$", written, re.M))
    assert wanted
    # One call (each costs seconds on the emulated card): values in the order asked.
    found = card.check_output("sysctl -n " + " ".join(wanted)).splitlines()
    assert dict(zip(wanted, found, strict=True)) == wanted


def test_first_boot_made_the_card_its_own(card, host):
    """Two devices flashed from one image (the card, and the container *host*) share no per-device state;
    the card, never re-converged, keeps the name its first boot gave it from its MAC address."""
    assert card.file("/var/lib/printbridge/firstboot.done").exists
    mac = card.check_output("cat /sys/class/net/eth0/address").replace(":", "")
    assert card.check_output("hostname") == f"printbridge-{mac[-6:]}"
    keys = "for k in /etc/ssh/ssh_host_*_key.pub; do ssh-keygen -l -f $k; done | cut -d' ' -f2"
    with host.sudo():
        theirs = {
            "keys": set(host.check_output(keys).split()),
            "machine-id": host.file("/etc/machine-id").content_string.strip(),
            "secret": host.check_output("sha256sum /var/lib/printbridge-web/secret_key"),
        }
    ours = {
        "keys": set(card.check_output(keys).split()),
        "machine-id": card.file("/etc/machine-id").content_string.strip(),
        "secret": card.check_output("sha256sum /var/lib/printbridge-web/secret_key"),
    }
    assert ours["keys"] and not ours["keys"] & theirs["keys"]
    assert ours["machine-id"] and ours["machine-id"] != theirs["machine-id"]
    assert ours["secret"].split()[0] != theirs["secret"].split()[0]
