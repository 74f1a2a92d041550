"""The base role, checked on a booted host (converged over SSH or from an image)."""

import subprocess
from pathlib import Path

import pytest

from harness.hosts import SSH_OPTIONS


def test_host_booted_cleanly(host):
    # "running" means no unit failed; a chroot-converged image must boot as cleanly.
    assert host.check_output("systemctl is-system-running") == "running"


def test_hostname(host, hostvars):
    name = hostvars["inventory_hostname"]
    assert host.file("/etc/hostname").content_string == f"{name}\n"
    assert host.check_output("hostname") == name
    fqdn = f"{name}.{hostvars['base_domain']}"
    assert host.check_output("getent hosts %s", fqdn).split()[1:] == [fqdn, name]


def test_timezone(host, hostvars):
    zone = hostvars["base_timezone"]
    assert host.file("/etc/localtime").linked_to == f"/usr/share/zoneinfo/{zone}"
    assert host.file("/etc/timezone").content_string == f"{zone}\n"
    assert host.check_output("date +%Z") in {"CET", "CEST"}


def test_locales(host, hostvars):
    generated = host.check_output("locale -a").splitlines()
    for name in [hostvars["base_locale"], *hostvars["base_locales_extra"]]:
        lang, _, codeset = name.partition(".")
        assert f"{lang}.{codeset.lower().replace('-', '')}" in generated
    assert host.file("/etc/default/locale").content_string == f"LANG={hostvars['base_locale']}\n"
    if int(host.system_info.release.split(".")[0]) >= 13:
        assert host.file("/etc/default/locale").linked_to == "/etc/locale.conf"


def test_time_sync_enabled(host, hostvars):
    assert host.service("systemd-timesyncd").is_enabled
    conf = host.file("/etc/systemd/timesyncd.conf.d/printbridge.conf").content_string
    assert f"NTP={' '.join(hostvars['base_ntp_servers'])}" in conf.splitlines()


def test_apt_policy(host):
    policy = host.file("/etc/apt/apt.conf.d/80printbridge")
    assert policy.mode == 0o644
    assert 'APT::Install-Recommends "false";' in policy.content_string
    assert "Proxy" not in policy.content_string
    assert 'Recommends "false"' in host.check_output("apt-config dump APT::Install-Recommends")


@pytest.mark.parametrize("package", ["ca-certificates", "locales", "openssh-server", "sudo", "tzdata", "file"])
def test_packages(host, package):
    assert host.package(package).is_installed


def test_admin_account(host, hostvars):
    admin = host.user("pbadmin")
    assert admin.exists
    assert "pbadmin" in admin.groups
    assert admin.shell == "/bin/bash"
    assert admin.password == "*"
    keys = host.file("/home/pbadmin/.ssh/authorized_keys")
    assert keys.user == "pbadmin"
    assert keys.mode == 0o600
    # The scenarios give pbadmin the lab key (group_vars templates are not rendered here).
    lab_key = Path(f"{hostvars['ansible_private_key_file']}.pub").read_text()
    assert keys.content_string.strip() == lab_key.strip()
    assert not host.user("formeradmin").exists


def test_sudoers(host):
    rule = host.file("/etc/sudoers.d/printbridge-admins")
    assert rule.user == "root"
    assert rule.mode == 0o440
    assert "%pbadmin ALL=(ALL:ALL) NOPASSWD: ALL" in rule.content_string
    with host.sudo():
        assert host.run("visudo -c").rc == 0


def test_no_account_has_a_password(host, lab_state):
    # Key-only sign-in: no account the roles made, and no system account, has a
    # usable password; only the local office users the lab gave one (the
    # directory's users, dana and erin, have theirs in the directory).
    office_users = {path.name for path in (lab_state / "users").iterdir()} - {"dana", "erin"}
    with host.sudo():
        shadow = host.check_output("getent shadow")
    usable = {line.split(":")[0] for line in shadow.splitlines() if line.split(":")[1][:1] not in {"*", "!"}}
    assert usable == office_users


def test_admin_signs_in_with_key_and_uses_sudo(hostvars):
    # From the controller, as an admin would: key login, then sudo without a password.
    result = subprocess.run(
        [
            "ssh",
            *SSH_OPTIONS,
            "-i",
            hostvars["ansible_private_key_file"],
            f"pbadmin@{hostvars['ansible_host']}",
            "sudo -n id -u",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"
