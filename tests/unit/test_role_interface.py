"""Role interfaces: every public variable is documented, specified and validated."""

import re
import subprocess

import pytest
import yaml
from conftest import ANSIBLE_ENV, ANSIBLE_PLAYBOOK, ROOT

ROLES = sorted(p.parent.parent for p in ROOT.glob("roles/*/meta/argument_specs.yml"))


def load(path):
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_defaults_match_argument_specs(role):
    defaults = load(role / "defaults/main.yml")
    options = load(role / "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert set(defaults) == set(options)
    assert all(name.startswith(f"{role.name}_") for name in defaults)


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_default_is_commented(role):
    lines = (role / "defaults/main.yml").read_text().splitlines()
    for number, line in enumerate(lines):
        if re.match(r"^[a-z]\w*:", line):
            assert lines[number - 1].startswith("#"), f"{line.split(':')[0]} has no comment above it"


def converge_localhost_check_mode(tmp_path, extra_vars, role="base"):
    """Apply a role to this machine in check mode: it must fail in validation."""
    playbook = tmp_path / "play.yml"
    playbook.write_text(f"- hosts: localhost\n  connection: local\n  gather_facts: false\n  roles: [{role}]\n")
    varfile = tmp_path / "vars.yml"
    varfile.write_text(yaml.safe_dump(extra_vars))
    env = ANSIBLE_ENV
    return subprocess.run(
        [ANSIBLE_PLAYBOOK, "--check", "-i", "localhost,", str(playbook), "-e", f"@{varfile}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def assert_refused_before_changes(tmp_path, extra_vars, message, role, first_change):
    """The role refuses *extra_vars* with *message* before any task that could touch the machine ran."""
    result = converge_localhost_check_mode(tmp_path, extra_vars, role=role)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert "changed=0" in result.stdout
    assert f"TASK [{role} : {first_change}]" not in result.stdout


GOOD_ADMIN = {"name": "pbadmin", "ssh_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPTL test"]}


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        ({"base_admin_users": "pbadmin"}, "base_admin_users"),
        ({"base_admin_users": [{"ssh_keys": ["k"]}]}, "name"),
        ({"base_admin_users": [{**GOOD_ADMIN, "state": "gone"}]}, "state"),
        ({"base_admin_users": [GOOD_ADMIN], "base_timesync_enabled": "often"}, "base_timesync_enabled"),
        ({"base_admin_users": [GOOD_ADMIN], "base_apt_cache_valid_time": "hourly"}, "base_apt_cache_valid_time"),
        ({"base_admin_users": [GOOD_ADMIN], "base_packages": {"sudo": 1}}, "base_packages"),
        ({"base_admin_users": []}, "at least one administrator"),
        ({"base_admin_users": [{"name": "pbadmin"}]}, "at least one administrator"),
        ({"base_admin_users": [{**GOOD_ADMIN, "state": "absent"}]}, "at least one administrator"),
    ],
    ids=["not-a-list", "no-name", "bad-state", "bool", "int", "list", "no-admins", "no-keys", "only-absent"],
)
def test_wrong_inventory_is_refused_with_a_clear_error(tmp_path, extra_vars, message):
    assert_refused_before_changes(tmp_path, extra_vars, message, "base", "Write the apt policy")


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        ({"webapp_max_upload_mb": "lots"}, "webapp_max_upload_mb"),
        ({"webapp_http_redirect": "maybe"}, "webapp_http_redirect"),
        ({"webapp_print_groups": {"pbprint": 1}}, "webapp_print_groups"),
        ({"webapp_print_groups": []}, "at least one print group"),
        ({"webapp_max_pages": 0}, "page limit"),
        ({"webapp_tls_certificate": "/etc/ssl/site.crt"}, "set together"),
        ({"webapp_mail_domain": "example.org; rm -rf /"}, "plain mail domain"),
        ({"webapp_smtp_server": "mail.example.org:25 -X"}, "SMTP server"),
        ({"webapp_mail_sender": "printbridge"}, "sender address"),
    ],
    ids=["int", "bool", "list", "no-groups", "zero-pages", "cert-without-key", "mail-domain", "smtp", "sender"],
)
def test_wrong_webapp_settings_are_refused_with_a_clear_error(tmp_path, extra_vars, message):
    assert_refused_before_changes(tmp_path, extra_vars, message, "webapp", "Install the web app's packages")


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        ({"firewall_office_networks": ["10.0.0.0/33"]}, "not: 10.0.0.0/33"),
        ({"firewall_admin_networks": ["192.168.1.0/24", "admins"]}, "not: admins"),
        ({"firewall_admin_networks": []}, "must not be empty"),
        ({"firewall_ssh_rate": "fast"}, "firewall_ssh_rate"),
        ({"firewall_extra_rules": [{"name": "x", "port": 1, "protocol": "sctp", "networks": []}]}, "protocol"),
        ({"firewall_extra_rules": [{"name": "snmp", "port": 161, "networks": ["fe80::/129"]}]}, "not: fe80::/129"),
        ({"firewall_extra_rules": [{"name": "x", "port": 70000, "protocol": "udp", "networks": []}]}, "not: 70000"),
        ({"firewall_office_tcp_ports": [443, 0]}, "not: 0"),
    ],
    ids=["bad-prefix", "not-a-network", "no-admins", "rate", "protocol", "extra-network", "udp-port", "tcp-port"],
)
def test_wrong_firewall_inventory_is_refused(tmp_path, extra_vars, message):
    assert_refused_before_changes(tmp_path, extra_vars, message, "firewall", "Answer iptables-persistent's questions")


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        ({"tls_mode": "letsencrypt"}, "tls_mode"),
        ({"tls_days": "a year"}, "tls_days"),
        ({"tls_extra_names": {"print.example": 1}}, "tls_extra_names"),
        ({"tls_mode": "provided"}, "tls_certificate"),
        ({"tls_days": 825}, "at most 397"),
        ({"tls_renew_days": 400}, "below"),
        ({"tls_site_name": "../elsewhere"}, "site name"),
    ],
    ids=["mode", "int", "list", "provided-without-certificate", "too-long", "renew-after-expiry", "site-name"],
)
def test_wrong_tls_settings_are_refused_with_a_clear_error(tmp_path, extra_vars, message):
    assert_refused_before_changes(tmp_path, extra_vars, message, "tls", "Install the TLS tools")


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        ({"firstboot_hostname_pattern": "printbridge"}, "must contain {mac6}"),
        ({"firstboot_hostname_pattern": "Print_{mac6}"}, "host name of lower-case letters"),
        ({"firstboot_hostname": "-office"}, "host name of lower-case letters"),
        ({"firstboot_timeout_minutes": 0}, "at least 1"),
        ({"firstboot_timeout_minutes": "soon"}, "firstboot_timeout_minutes"),
    ],
    ids=["no-mac", "bad-pattern", "bad-name", "no-time", "not-int"],
)
def test_wrong_firstboot_settings_are_refused_with_a_clear_error(tmp_path, extra_vars, message):
    assert_refused_before_changes(tmp_path, extra_vars, message, "firstboot", "Install ansible-core")


GOOD_DIRECTORY = {
    "directory_provider": "ldap",
    "directory_ldap_uris": ["ldaps://ldap.example.org"],
    "directory_ldap_search_base": "dc=example,dc=org",
    "directory_print_groups": ["office-staff"],
}

GOOD_AD = {
    "directory_provider": "ad",
    "directory_ad_domain": "corp.example.org",
    "directory_ad_join_user": "printjoin",
    "directory_ad_join_password": "once",
    "directory_print_groups": ["office-staff"],
}


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        ({**GOOD_DIRECTORY, "directory_provider": "nis"}, "directory_provider"),
        ({**GOOD_DIRECTORY, "directory_ldap_uris": ["http://ldap.example.org"]}, "directory_provider ldap needs"),
        ({**GOOD_DIRECTORY, "directory_ldap_uris": ["ldaps://a.example", "ldap://b.example"]}, "all ldaps://"),
        ({**GOOD_DIRECTORY, "directory_ldap_search_base": "example.org"}, "as a DN"),
        ({**GOOD_DIRECTORY, "directory_ldap_bind_dn": "cn=x,dc=example,dc=org"}, "together or neither"),
        ({**GOOD_DIRECTORY, "directory_ldap_ca_certificate": "not a certificate"}, "as PEM or empty"),
        ({**GOOD_DIRECTORY, "directory_print_groups": []}, "at least one group"),
        ({**GOOD_DIRECTORY, "directory_print_groups": ["office staff"]}, "at least one group"),
        ({**GOOD_DIRECTORY, "directory_min_id": "low"}, "directory_min_id"),
        ({**GOOD_AD, "directory_ad_domain": "LAB"}, "directory_ad_domain as a lower-case DNS name"),
        ({**GOOD_AD, "directory_ad_join_password": ""}, "together or neither"),
        ({**GOOD_AD, "directory_ad_computer_name": "PRINTSERVER-RECEPTION"}, "at most 15"),
        ({**GOOD_AD, "directory_ad_servers": ["dc1 dc2"]}, "directory_ad_servers as host names"),
        ({**GOOD_AD, "directory_print_groups": []}, "at least one group"),
    ],
    ids=[
        "provider",
        "uri",
        "mixed-uris",
        "base",
        "bind-without-password",
        "ca",
        "no-groups",
        "group-name",
        "int",
        "ad-domain",
        "ad-join-without-password",
        "ad-computer-name",
        "ad-servers",
        "ad-no-groups",
    ],
)
def test_wrong_directory_settings_are_refused_with_a_clear_error(tmp_path, extra_vars, message):
    assert_refused_before_changes(tmp_path, extra_vars, message, "directory", "Install SSSD")


def test_firstboot_finalize_refuses_a_booted_host(tmp_path):
    """playbooks/image-finalize.yml would take a running host's keys away: only a chroot is finalized."""
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: localhost\n  connection: local\n  tasks:\n"
        "    - ansible.builtin.include_role: {name: firstboot, tasks_from: finalize}\n"
    )
    env = ANSIBLE_ENV
    result = subprocess.run(
        [ANSIBLE_PLAYBOOK, "--check", "-i", "localhost,", str(playbook)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "only for an image's root filesystem" in result.stdout
    assert "TASK [firstboot : Remove per-device files]" not in result.stdout
