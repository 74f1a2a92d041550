"""What our pi-gen stage leaves in the arm64 image tree: the appliance's
packages for arm64, its units enabled, its configuration written, no password."""

import pytest
import yaml

# The roles' packages (roles/*/defaults, roles/*/vars); a few per role.
PACKAGES = [
    "cups",
    "cups-filters",
    "python3-cups",
    "nginx",
    "gunicorn",
    "python3-flask",
    "python3-pikepdf",
    "fail2ban",
    "auditd",
    "apparmor",
    "unattended-upgrades",
    "iptables",
    "netfilter-persistent",
    "iptables-persistent",
]

# Units the roles enable; in a chroot they are only enabled, started at first boot.
UNITS = [
    "ssh.service",
    "cups.service",
    "printbridge-queues.service",
    "printbridge-watchdog.timer",
    "netfilter-persistent.service",
    "fail2ban.service",
    "auditd.service",
    "apparmor.service",
    "printbridge-tls-check.timer",
    "nginx.service",
    "printbridge-web.service",
]

FILES = [
    "/etc/cups/cupsd.conf",
    "/etc/cups/cups-files.conf",
    "/etc/printbridge/queues.json",
    "/etc/iptables/rules.v4",
    "/etc/iptables/rules.v6",
    "/etc/fail2ban/jail.local",
    "/etc/audit/rules.d/50-printbridge.rules",
    "/etc/nginx/nginx.conf",
    "/etc/sudoers.d/printbridge-admins",
    "/etc/apt/apt.conf.d/20auto-upgrades",
]


def test_tree_is_arm64(host):
    assert host.check_output("dpkg --print-architecture") == "arm64"
    arches = set(host.check_output("dpkg-query -W -f '${Architecture}\\n'").split())
    assert arches <= {"arm64", "all"}


def test_appliance_packages_installed(host):
    query = "dpkg-query -W -f '${Package} ${Architecture} ${db:Status-Abbrev}\\n' "
    out = host.check_output(query + " ".join(PACKAGES))
    installed = {line.split()[0]: line.split()[1:] for line in out.splitlines()}
    for package in PACKAGES:
        assert package in installed, package
        arch, status = installed[package]
        assert status == "ii", (package, status)
        assert arch in {"arm64", "all"}, (package, arch)


def test_units_enabled(host):
    # One systemctl for all: each command costs a qemu-user Python start.
    result = host.run("systemctl is-enabled " + " ".join(UNITS))
    states = dict(zip(UNITS, result.stdout.split(), strict=True))
    assert all(state == "enabled" for state in states.values()), states


def test_configuration_written(host):
    result = host.run("ls -d " + " ".join(FILES))
    assert result.rc == 0, result.stderr


def test_no_default_site_and_no_tls_key_in_the_tree(host):
    """The TLS key and certificate are each card's own, issued at its first boot: the converge made the build's
    to check nginx's and cupsd's configuration; finalizing took them away (the paths the first boot uses)."""
    assert not host.file("/etc/nginx/sites-enabled/default").exists
    settings = yaml.safe_load(host.file("/etc/printbridge/firstboot.yml").content_string)
    for path in (settings["tls_key_path"], settings["tls_certificate_path"]):
        assert not host.file(path).exists, path
    assert host.check_output("find /etc/cups/ssl -name '*.key' -o -name '*.crt'") == ""


@pytest.mark.parametrize("option", ["passwordauthentication no", "permitrootlogin no"])
def test_ssh_keys_only(host, option):
    # sshd -T reads the configuration without starting anything (host keys
    # come at first boot, so point it at a throwaway one; /run is a tmpfs on
    # a booted device, so the directory sshd wants there costs nothing).
    out = host.check_output(
        "mkdir -p /run/sshd && d=$(mktemp -d) && ssh-keygen -q -t ed25519 -N '' -f $d/k && "
        "sshd -T -h $d/k -C user=root,host=x,addr=127.0.0.1; rc=$?; rm -rf $d; exit $rc"
    )
    assert option in out.splitlines()


def test_no_password_anywhere(host, first_user):
    shadow = dict(line.split(":")[:2] for line in host.check_output("cat /etc/shadow").splitlines())
    assert shadow[first_user] == "*"
    assert shadow["root"] in {"*", "!", "!*"}
    assert not [user for user, pw in shadow.items() if pw and pw[0] not in "*!"]


def test_no_ssh_host_keys_in_the_tree(host):
    """As pi-gen's stage2 left it: each card makes its own at first boot. The converge made the configured ones
    to check sshd's configuration; finalizing took them away."""
    assert host.check_output("find /etc/ssh -name 'ssh_host_*'") == ""


def test_first_user_signs_in_with_the_key(host, first_user, admin_key):
    keys = host.check_output(f"cat /home/{first_user}/.ssh/authorized_keys")
    assert admin_key.split()[1] in keys


def test_nothing_started_in_the_tree(host):
    # No daemon was started while converging: no pid files or sockets of the
    # appliance's services in the tree's /run (pi-gen's tmpfs is gone anyway,
    # so look at what would persist).
    assert host.check_output("find /var/run/ /run/ -name '*.pid' 2>/dev/null | wc -l") == "0"
