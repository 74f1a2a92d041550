"""A device flashed from the image: its first boot (roles/firstboot) and an admin's first re-converge.

The image scenario records what verify cannot see any more on the host (molecule/image/firstboot_record.py):
the tree as converged and as finalized, the device just after its first boot (before the re-converge gave it
its inventory name and a site-CA certificate), and the tasks that re-converge changed. The default scenario's
hosts were never an image: they must not have the first-boot unit at all."""

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import IMAGE, unlogged, verify_certificate

ROOT = Path(__file__).resolve().parents[2]
UNIT = "/etc/systemd/system/printbridge-firstboot.service"
MARKER = "/var/lib/printbridge/firstboot.done"
CERTIFICATE = "/etc/printbridge/tls/host.crt"
SECRET = "/var/lib/printbridge-web/secret_key"


@pytest.fixture
def record(hostvars, lab_state):
    """What firstboot_record.py wrote for this host during the image scenario (missing is a failure)."""
    return json.loads((lab_state / "firstboot" / f"{hostvars['inventory_hostname']}.json").read_text())


def ssh_fingerprints(host):
    listing = host.check_output("for k in /etc/ssh/ssh_host_*_key.pub; do ssh-keygen -l -f $k; done")
    return [line.split()[1] for line in listing.splitlines()]


def openssl(*args, text):
    return subprocess.run(["openssl", *args], input=text, capture_output=True, text=True, check=True).stdout


def test_first_boot_unit_only_in_images(host):
    unit = host.file(UNIT)
    if IMAGE:
        assert unit.exists
        assert host.service("printbridge-firstboot").is_enabled
        assert f"ConditionPathExists=!{MARKER}" in unit.content_string
        # The join of a card's domain: enabled, and skipped at this boot (the container's card named no domain).
        assert host.service("printbridge-directory-join").is_enabled
        shown = host.check_output("systemctl show -p ConditionResult printbridge-directory-join")
        assert shown == "ConditionResult=no"
    else:
        # A host converged over SSH never gets them (roles/firstboot does nothing there).
        for path in [UNIT, "/usr/local/sbin/printbridge-firstboot", "/usr/local/sbin/printbridge-directory-join"]:
            assert not host.file(path).exists, path
        assert not host.file("/etc/systemd/system/printbridge-directory-join.service").exists


@pytest.mark.image_only
def test_converged_tree_had_per_device_state(record):
    # Otherwise the finalize check below would prove nothing.
    tree = record["tree_converged"]
    assert tree["ssh_host_keys"] and tree["ssh_private_keys"]
    assert re.fullmatch(r"[0-9a-f]{32}", tree["machine_id"])
    assert tree["tls_certificate"] and tree["tls_key"] and tree["cups_keychain"]


@pytest.mark.image_only
def test_finalized_tree_holds_no_per_device_state(record):
    tree = record["tree_finalized"]
    assert tree["ssh_host_keys"] == {} and tree["ssh_private_keys"] == []
    # Empty, not "uninitialized" (which would make systemd apply its presets at the first boot).
    assert tree["machine_id"] == ""
    assert not tree["dbus_machine_id"]
    assert tree["tls_certificate"] is None and tree["tls_key"] is None
    assert tree["cups_keychain"] == []
    assert tree["secret_key"] is None


@pytest.mark.image_only
def test_ssh_host_keys_are_the_devices_own(host, record):
    now = ssh_fingerprints(host)
    assert len(now) >= 2
    assert now == record["booted"]["ssh_host_keys"], "the re-converge keeps the first boot's keys"
    assert not set(now) & set(record["tree_converged"]["ssh_host_keys"].values())
    for key in host.file("/etc/ssh").listdir():
        if key.startswith("ssh_host_") and key.endswith("_key"):
            private = host.file(f"/etc/ssh/{key}")
            assert (private.user, private.mode) == ("root", 0o600), key


@pytest.mark.image_only
def test_machine_id_is_the_devices_own(host, record):
    machine_id = host.file("/etc/machine-id").content_string.strip()
    assert re.fullmatch(r"[0-9a-f]{32}", machine_id)
    assert machine_id not in {record["tree_converged"]["machine_id"], record["tree_converged"]["build_machine_id"]}
    # What systemd itself uses.
    assert host.check_output("systemd-id128 machine-id") == machine_id


@pytest.mark.image_only
def test_first_boot_named_the_host_from_its_mac(host, record):
    pattern = yaml.safe_load((ROOT / "roles/firstboot/defaults/main.yml").read_text())["firstboot_hostname_pattern"]
    booted = record["booted"]
    # From netlink: in the lab, /sys/class/net shows the machine's interfaces, not the container's.
    assert booted["mac"] == host.check_output("ip -o link show eth0").split("link/ether ")[1].split()[0]
    expected = pattern.replace("{mac6}", booted["mac"].replace(":", "")[-6:])
    assert re.fullmatch(r"printbridge-[0-9a-f]{6}", expected)
    assert booted["hostname"] == booted["etc_hostname"] == expected


@pytest.mark.image_only
def test_first_boot_issued_a_per_device_self_signed_certificate(hostvars, record, tmp_path):
    booted = record["booted"]
    certificate = booted["tls_certificate"]
    leaf = tmp_path / "first-boot.crt"
    leaf.write_text(certificate)
    # Self-signed (there is no site CA on the device), for the device's name and address.
    verified = verify_certificate(leaf, leaf)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    names = openssl("x509", "-noout", "-ext", "subjectAltName", text=certificate)
    assert f"DNS:{booted['hostname']}" in names
    assert f"IP Address:{hostvars['ansible_host']}" in names
    # Not the certificate (nor the key) the image was built with.
    fingerprint = openssl("x509", "-noout", "-fingerprint", "-sha256", text=certificate)
    converged = record["tree_converged"]["tls_certificate"]
    assert converged and fingerprint.split("=")[1].replace(":", "").lower() != converged
    # nginx (443) and cupsd (631) served it right after the first boot.
    for port in ("443", "631"):
        assert booted["served"][port] == openssl("x509", text=certificate), port


@pytest.mark.image_only
def test_web_app_secret_is_the_devices_own(host, record):
    secret = host.file(SECRET)
    assert (secret.user, secret.group, secret.mode) == ("pbweb", "pbweb", 0o600)
    assert secret.size >= 64
    digest = host.check_output(f"sha256sum {SECRET}").split()[0]
    assert digest not in {record["tree_converged"]["secret_key"], record["tree_finalized"]["secret_key"]}


@pytest.mark.image_only
def test_first_boot_ran_before_the_services(host):
    """In the journal of this (only) boot: the first boot's start job finished before SSH, nginx, cupsd and
    the web app were started."""
    entries = [
        json.loads(line)
        for line in host.check_output("journalctl -b 0 -o json _PID=1 JOB_TYPE=start JOB_RESULT=done").splitlines()
    ]
    started = {}
    for entry in entries:
        started.setdefault(entry["UNIT"], int(entry["__MONOTONIC_TIMESTAMP"]))
    first_boot = started["printbridge-firstboot.service"]
    for unit in ["ssh.service", "nginx.service", "cups.service", "printbridge-web.service"]:
        assert started[unit] > first_boot, unit


@pytest.mark.image_only
def test_first_boot_ran_once(host):
    assert host.file(MARKER).exists
    status = json.loads(host.file("/var/lib/printbridge/firstboot.json").content_string)
    assert status["status"] == "ok"
    done = "journalctl -o cat -t printbridge-firstboot | grep -c '^first boot done'"
    assert host.check_output(done) == "1"
    keys = ssh_fingerprints(host)
    # Started again (as at every boot): the marker stops it before it does anything.
    host.run_expect([0], "systemctl restart printbridge-firstboot.service")
    shown = host.check_output("systemctl show -p ConditionResult printbridge-firstboot.service")
    assert shown == "ConditionResult=no"
    assert host.check_output(done) == "1"
    assert ssh_fingerprints(host) == keys


def documented_first_boot_changes():
    """The tasks docs/first-boot.md says an admin's first site.yml run changes on a flashed device."""
    text = (ROOT / "docs/first-boot.md").read_text()
    section = text.split("## The first re-converge", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^- `([a-z_]+ : [^`]+)`", section, re.M))


@pytest.mark.image_only
def test_first_re_converge_changes_only_documented_first_boot_items(record):
    changed = set(record["reconverge"]["changed"])
    documented = documented_first_boot_changes()
    assert documented, "docs/first-boot.md lists the first-boot items"
    assert changed <= documented, f"changed but not documented: {sorted(changed - documented)}"
    # The site CA's certificate replaces the first boot's self-signed one.
    assert "tls : Install the certificate" in changed


@pytest.mark.image_only
def test_a_wrong_printbridge_yml_changes_nothing_and_says_why(host, record, web):
    """The container's boot partition held a wrong printbridge.yml (molecule/image/refused-printbridge.yml):
    nothing of it applied (the image's name pattern, zone and no Wi-Fi), the device came up as usual (this whole
    suite reaches it over SSH), and the reason is in firstboot.json, the journal, on the card and in /healthz;
    the Wi-Fi password is left nowhere."""
    wrong = yaml.safe_load((ROOT / "molecule/image/refused-printbridge.yml").read_text())
    reason = 'timezone "Mars/Olympus" is not a time zone'
    assert record["booted"]["hostname"] != wrong["hostname"]
    assert host.file(MARKER).exists
    status = json.loads(host.file("/var/lib/printbridge/firstboot.json").content_string)
    assert status["status"] == "ok" and reason in status["config_refused"]
    with host.sudo():
        assert host.check_output("ls /etc/NetworkManager/system-connections") == ""
        assert "Mars" not in host.file("/etc/timezone").content_string
        journal = host.check_output("journalctl -o cat -p err -t printbridge-firstboot --no-pager")
        assert "printbridge.yml was refused" in journal and reason in journal
        assert host.check_output("ls /boot/firmware").split().count("printbridge-refused.yml") == 1
        assert not host.file("/boot/firmware/printbridge.yml").exists
        kept = host.file("/boot/firmware/printbridge-refused.yml").content_string
        assert "REFUSED" in kept and reason in kept and "password: REMOVED" in kept
        password = wrong["wifi"]["password"]
        found = host.run(f"grep -r -l -F {unlogged(password)} /boot /etc /var/lib/printbridge /var/log")
        assert found.stdout == "", found.stdout
        assert password not in host.check_output("journalctl -b -u printbridge-firstboot --no-pager")
    health = web([{"method": "GET", "path": "/healthz"}])["responses"][0]["json"]
    assert health["first_boot"] == {"status": "ok", "config_refused": True}


JOIN_FILE = "/var/lib/printbridge/directory-join/settings.yml"
JOIN_STATUS = "/var/lib/printbridge/directory-join.json"
# The lab's domain controller (molecule/resources/ad.yml), which is also the domain's DNS server.
DC_ADDRESS = "10.213.0.3"


@pytest.mark.image_only
def test_a_directory_join_waits_for_the_domain_and_a_refused_one_says_why(host, web):
    """The join a card's printbridge.yml asks for (the card itself joins in test_card.py), here with a wrong join
    password: while the domain controller cannot be reached, nothing is sent, the settings wait and a timer asks
    again later; once it answers and refuses the password, the settings and password leave the device, SSSD keeps
    its directory, and the reason, in printbridge.yml's words, is in the journal, directory-join.json and (as a
    verdict) /healthz."""
    settings = {
        "directory_provider": "ad",
        "directory_ad_domain": "lab.printbridge.test",
        "directory_ad_servers": ["dc1.lab.printbridge.test"],
        "directory_ad_join_user": "printjoin",
        "directory_ad_join_password": "not-the-join-password",
    }
    with host.sudo():
        sssd_conf = host.check_output("sha256sum /etc/sssd/sssd.conf")
        try:
            # The domain's DNS, as an office's devices have it (and no lookup leaves the lab).
            host.check_output(
                f"cp /etc/resolv.conf /root/resolv.conf.saved && echo 'nameserver {DC_ADDRESS}' > /etc/resolv.conf"
            )
            host.check_output(f"install -d -m 0700 {JOIN_FILE.rsplit('/', 1)[0]}")
            host.check_output(f"printf %s {json.dumps(json.dumps(settings))} > {JOIN_FILE} && chmod 0600 {JOIN_FILE}")
            # The controller does not answer: the device waits.
            host.check_output(f"ip route add prohibit {DC_ADDRESS}/32")
            try:
                host.check_output("systemctl start printbridge-directory-join.service")
            finally:
                host.check_output(f"ip route del prohibit {DC_ADDRESS}/32")
            status = json.loads(host.file(JOIN_STATUS).content_string)
            assert (status["status"], status["domain"]) == ("waiting", "lab.printbridge.test"), status
            assert host.file(JOIN_FILE).exists
            assert host.service("printbridge-directory-join.timer").is_running
            assert web([{"method": "GET", "path": "/healthz"}])["responses"][0]["json"]["directory_join"] == {
                "status": "waiting"
            }
            # It answers (the timer would start the join; started here at once) and refuses the password.
            host.check_output("systemctl stop printbridge-directory-join.timer")
            assert host.run("systemctl start printbridge-directory-join.service").rc != 0
            status = json.loads(host.file(JOIN_STATUS).content_string)
            assert status["status"] == "failed", status
            assert "lab.printbridge.test refused to join this host" in status["message"], status
            # In printbridge.yml's words, not the role's inventory variables.
            assert "directory.join_user and its password" in status["message"], status
            assert "directory_ad_" not in status["message"], status
            assert not host.file(JOIN_FILE).exists
            assert host.check_output("sha256sum /etc/sssd/sssd.conf") == sssd_conf
            assert host.run("systemctl is-failed printbridge-directory-join.service").stdout.strip() == "failed"
            journal = host.check_output("journalctl -o cat -t printbridge-directory-join --no-pager")
            assert "does not answer yet" in journal and "directory join failed" in journal
            assert settings["directory_ad_join_password"] not in journal
            assert web([{"method": "GET", "path": "/healthz"}])["responses"][0]["json"]["directory_join"] == {
                "status": "failed"
            }
        finally:
            host.run("systemctl stop printbridge-directory-join.timer")
            host.run("systemctl reset-failed printbridge-directory-join.service")
            host.run(f"rm -f {JOIN_FILE} {JOIN_STATUS}")
            host.run("test -f /root/resolv.conf.saved && mv /root/resolv.conf.saved /etc/resolv.conf")
