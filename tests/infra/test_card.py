"""The image as a flashed card (image scenario only): the converged tree, assembled into a disk the way
pi-gen exports a card (FAT ``bootfs`` + ext4 ``rootfs``), booted in a virtual machine with its own kernel
(molecule/image/boot.yml does that before the tree boots as a container). What a container cannot show is
checked here: the card's partitions, AppArmor confining cupsd, auditd's rules in the kernel, the firewall
loaded at boot, and a first boot that makes every card unique.

The VM is emulated (QEMU TCG: this machine's KVM cannot run a Linux guest), some twenty times slower than
the container, so the whole suite runs on the container and only these checks on the card."""

import json
import re
from pathlib import Path

import pytest
import testinfra
from conftest import in_office, in_peer, unlogged

from harness import hosts, settings

pytestmark = pytest.mark.image_only
# The card's printbridge.yml (molecule/image/boot.yml writes it to its boot partition).
CONFIG = Path(__file__).resolve().parents[2] / "molecule/image/card-printbridge.yml.j2"
WIFI_PASSWORD = re.search(r"^  password: (\S+)$", CONFIG.read_text(), re.M).group(1)
WIFI_SSID = re.search(r'^  ssid: "(.+)"$', CONFIG.read_text(), re.M).group(1)


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
    # The card's directory join may still run (it starts once the network is up): --wait for the boot's end.
    assert card.run("systemctl is-system-running --wait").stdout.strip() == "running"


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
    """Two devices flashed from one image (the card, and the container *host*) share no per-device state."""
    assert card.file("/var/lib/printbridge/firstboot.done").exists
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


def test_printbridge_yml_named_the_card_and_set_its_clock(card):
    """Applied at first boot: the host name (not the MAC pattern), the time zone."""
    assert card.check_output("hostname") == "pb-card-office"
    assert card.check_output("readlink /etc/localtime") == "/usr/share/zoneinfo/Europe/Berlin"
    assert card.check_output("date +%Z") in {"CET", "CEST"}
    status = json.loads(card.file("/var/lib/printbridge/firstboot.json").content_string)
    assert (status["status"], status["config_refused"], status["hostname"]) == ("ok", "", "pb-card-office")


def test_printbridge_yml_gave_the_card_its_address(card, card_address):
    """No ip= on the kernel command line: the address is the one printbridge.yml configured, brought up by
    NetworkManager (as on Raspberry Pi OS) from the profile the first boot wrote."""
    assert "ip=" not in card.check_output("cat /proc/cmdline")
    assert f"inet {card_address}/24" in card.check_output("ip -4 -o addr show eth0")
    assert "default via 10.213.0.1" in card.check_output("ip route show default")
    with card.sudo():
        assert card.check_output("nmcli -g GENERAL.CONNECTION device show eth0") == "printbridge-ethernet"
        profile = card.check_output("nmcli -g ipv4.method,ipv4.addresses,ipv4.dns connection show printbridge-ethernet")
    assert profile.splitlines() == ["manual", f"{card_address}/24", "10.213.0.3"]


def test_printbridge_yml_admin_signs_in_with_its_key(card_address):
    """The administrator the file added signs in with its key and may use sudo (the admins' group)."""
    lab = settings.load()
    carddesk = testinfra.get_host(
        f"ssh://carddesk@{card_address}",
        ssh_identity_file=str(lab.ssh_key),
        ssh_extra_args=" ".join(hosts.SSH_OPTIONS),
    )
    assert carddesk.check_output("id -un") == "carddesk"
    assert carddesk.check_output("sudo -n id -u") == "0"


def test_printbridge_yml_added_its_printer(card):
    """Its queue is added to the image's (printbridge-queues creates it once cupsd runs)."""
    queues = json.loads(card.file("/etc/printbridge/queues.json").content_string)
    names = [printer["name"] for printer in queues["printers"]]
    assert "card-desk" in names and "office-laser" in names
    card.run("systemctl start printbridge-queues.service")  # done already, or retried until the printer answers
    assert "device for card-desk: ipp://10.213.0.5:8631/ipp/print?waitjob=false" in card.check_output(
        "LC_ALL=C lpstat -v"
    )


def test_printbridge_yml_joined_wifi_without_keeping_the_password(card):
    """NetworkManager has the Wi-Fi profile (its SSID taken byte for byte) with the derived key only, the country
    is set; the boot partition keeps printbridge-applied.yml, and the password is nowhere on it, not even in free
    clusters (the original was overwritten before deletion)."""
    profile = card.file("/etc/NetworkManager/system-connections/printbridge-wifi.nmconnection")
    assert (profile.user, profile.group, profile.mode) == ("root", "root", 0o600)
    with card.sudo():
        wifi = card.check_output(
            "nmcli -s -g 802-11-wireless.ssid,802-11-wireless-security.key-mgmt,802-11-wireless-security.psk,"
            "connection.interface-name connection show printbridge-wifi"
        ).splitlines()
        assert re.fullmatch(r"[0-9a-f]{64}", wifi[2])
        assert wifi[:2] + wifi[3:] == [WIFI_SSID, "wpa-psk", "wlan0"]
    assert "ieee80211_regdom=DE" in card.file("/etc/modprobe.d/printbridge-wifi-country.conf").content_string
    assert card.check_output("ls /boot/firmware").split().count("printbridge-applied.yml") == 1
    assert not card.file("/boot/firmware/printbridge.yml").exists
    applied = card.file("/boot/firmware/printbridge-applied.yml").content_string
    assert "Applied." in applied and "password: REMOVED" in applied
    # The whole partition, byte by byte, and the files that took the settings.
    password = unlogged(WIFI_PASSWORD)
    assert card.run(f"grep -c -a -F {password} /dev/vda1").stdout.strip() == "0"
    assert card.run(f"grep -r -l -F {password} /etc /var/lib/printbridge /var/log").stdout == ""
    assert WIFI_PASSWORD not in card.check_output("journalctl -b -u printbridge-firstboot --no-pager")


def test_printbridge_yml_joined_the_domain(card, lab_state):
    """The card's printbridge.yml named the lab's Active Directory domain (found through the DC's DNS) with a
    one-time join password: once the network was up, printbridge-directory-join joined it, SSSD uses it (a domain
    user resolves on the card, in the image's print group), and the password is nowhere on the card any more."""
    with card.sudo():
        # The join may still run (or wait for the domain) under emulation: until it reports an outcome.
        card.run(
            'for _ in $(seq 120); do grep -q -E \'"status": "(ok|failed)"\' /var/lib/printbridge/directory-join.json'
            " && exit; sleep 5; done; exit 1"
        )
        status = json.loads(card.file("/var/lib/printbridge/directory-join.json").content_string)
        assert (status["status"], status["domain"]) == ("ok", "lab.printbridge.test"), status
        assert not card.file("/var/lib/printbridge/directory-join/settings.yml").exists
        assert card.service("printbridge-directory-join").is_enabled
        assert not card.service("printbridge-directory-join.timer").is_running
        assert card.run("systemctl is-failed printbridge-directory-join.service").stdout.strip() == "inactive"
        config = card.file("/etc/sssd/sssd.conf")
        assert config.contains("^id_provider = ad$") and config.contains("^ad_domain = lab.printbridge.test$")
        # The card proves itself to the domain with its keytab.
        card.check_output("adcli testjoin --domain=lab.printbridge.test")
        found = card.run("for _ in $(seq 60); do getent passwd dana && exit; sleep 2; done; exit 1")
        assert found.rc == 0, card.run("sssctl domain-status directory").stdout
        assert found.stdout.split(":")[2] == "20001"
        assert "office-staff" in card.check_output("id -nG dana").split()
        applied = card.file("/boot/firmware/printbridge-applied.yml").content_string
        assert "join_password: REMOVED" in applied
        password = unlogged((lab_state / "ad/join-password").read_text().strip())
        assert card.run(f"grep -c -a -F {password} /dev/vda1").stdout.strip() == "0"
        found = card.run(f"grep -r -l -F {password} /etc /var/lib/printbridge /var/lib/sss /var/log")
        assert found.stdout == "", found.stdout
        journal = card.check_output("journalctl -b --no-pager -u printbridge-firstboot -u printbridge-directory-join")
        assert "this device is a computer of lab.printbridge.test" in journal
        assert password not in journal
