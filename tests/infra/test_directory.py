"""The directory role: office users of the lab's OpenLDAP (molecule/resources/directory.yml, on the printer host) or,
on hosts with directory_provider ad, of its Samba Active Directory (molecule/resources/ad.yml, pb-dc) reach the
print server through SSSD. Both hold the same users: dana is in the print group office-staff; erin is in the
directory, not in it."""

import json
import subprocess
import sys

import pytest
from conftest import HERE, OFFICE_NAMESPACE, run_roles, unlogged
from test_cups import POSTSCRIPT, PRINTER_STATE, wait_for

CONFIG = "/etc/sssd/sssd.conf"
CONFIG_DB = "/var/lib/sss/db/config.ldb"
# The lab's domain and its controller (molecule/default/host_vars/pb-trixie.yml).
AD_OPTIONS = "--domain=lab.printbridge.test --domain-controller=dc1.lab.printbridge.test"


@pytest.fixture
def document(tmp_path):
    path = tmp_path / "letter.ps"
    path.write_bytes(POSTSCRIPT)
    return str(path)


def test_sssd_runs_with_a_private_checked_configuration(host, hostvars, lab_state):
    assert host.service("sssd").is_running
    assert host.service("sssd").is_enabled
    # Its responders run inside sssd: none of the packages' on-demand sockets listens.
    sockets = host.check_output("systemctl list-unit-files 'sssd-*.socket' --no-legend").splitlines()
    assert sockets and all(line.split()[1] == "masked" for line in sockets), sockets
    with host.sudo():
        config = host.file(CONFIG)
        # root alone: the file may hold the bind password (trixie's unit adds group read for root's group).
        assert (config.user, config.group) == ("root", "root")
        assert config.mode & 0o037 == 0, oct(config.mode)
        assert host.run(f"sssctl config-check --config {CONFIG}").rc == 0
        if hostvars["directory_provider"] == "ad":
            assert config.contains("^id_provider = ad$")
            keytab = host.file("/etc/krb5.keytab")
            assert (keytab.user, keytab.mode) == ("root", 0o600)
            # The host's own key: it proves itself to the domain without the join password.
            assert host.run(f"adcli testjoin {AD_OPTIONS}").rc == 0
            secret, allowed = (lab_state / "ad" / "join-password").read_text().split()[0], []
        else:
            assert config.contains("^ldap_tls_reqcert = demand$")
            # sssd.conf and SSSD's own copy of it (its configuration database, root only).
            secret, allowed = (lab_state / "directory" / "bind-password").read_text().split()[0], [CONFIG, CONFIG_DB]
            assert host.file(CONFIG_DB).mode & 0o077 == 0
            assert host.file("/var/lib/sss/db").mode & 0o077 == 0
        # Nowhere else on disk (the join password nowhere at all), and never in the journal.
        found = host.run(f"grep -rlF -- {unlogged(secret)} /etc /var/log /var/lib/printbridge /var/lib/sss /root")
        assert sorted(found.stdout.split()) == sorted(allowed), found.stdout
        assert host.run(f"journalctl --no-pager | grep -cF -- {unlogged(secret)}").stdout.strip() == "0"


def test_directory_users_and_groups_resolve_beside_local_ones(host):
    dana = host.check_output("getent passwd dana").split(":")
    assert dana[2:4] == ["20001", "20000"], dana
    assert "office-staff" in host.check_output("id -nG dana").split()
    assert host.check_output("getent group office-staff").split(":")[3] == "dana"
    # Local accounts come first and still work; system accounts are never looked up in the directory.
    assert "pbprint" in host.check_output("id -nG alice").split()
    assert host.check_output("getent passwd root").startswith("root:x:0:0:")


def test_directory_member_prints_over_ipps_and_is_accounted(host, office, printer, document):
    assert wait_for(lambda: "printer-state (enum) = idle" in printer(PRINTER_STATE), 300)
    job = office("dana", "print", "office-laser", document)["job"]
    assert office("dana", "wait", str(job)) == {"state": "completed"}
    with host.sudo():
        page_log = host.file("/var/log/cups/page_log").content_string.splitlines()
    assert [line for line in page_log if line.startswith(f"office-laser dana {job} ")], page_log[-3:]


def test_other_directory_users_and_wrong_passwords_are_refused(host, office, document):
    since = host.check_output("date '+%Y-%m-%d %H:%M:%S'")
    # erin's password is right, but she is in no print group: SSSD's access control refuses her account,
    # which CUPS answers like a failed sign-in.
    erin = office("erin", "print", "office-laser", document)
    assert "job" not in erin and erin["error"] != 0, erin
    wrong = office("dana", "print", "office-laser", document, secret="not-danas-password")
    assert "job" not in wrong and wrong["error"] != 0, wrong
    with host.sudo():
        journal = host.check_output(f"journalctl --no-pager --since '{since}' -t cupsd")
    assert "pam_sss(cups:account): Access denied for user erin" in journal, journal[-2000:]
    assert "Access denied for user dana" not in journal


def test_directory_member_signs_in_to_the_web_app_and_others_cannot(web, site, password, clear_office_lockout):
    me = web([{"method": "GET", "path": "/api/v1/me"}], user="dana")
    assert me["session"]["user"] == "dana"
    assert me["responses"][0]["json"]["user"] == "dana"
    refused = subprocess.run(
        ["ip", "netns", "exec", OFFICE_NAMESPACE, sys.executable, str(HERE / "webclient.py"), site],
        input=json.dumps({"login": {"user": "erin", "password": password("erin")}, "requests": []}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode != 0 and "sign-in as erin failed" in refused.stderr, refused.stderr[-2000:]


def test_refused_settings_stop_the_run_and_keep_the_working_ones(host, hostvars, pytestconfig, tmp_path):
    """A wrong setting stops the role before SSSD changes; in Active Directory, the join password is needed once."""
    if hostvars["directory_provider"] == "ad":
        check_ad_join(host, hostvars, pytestconfig, tmp_path)
    else:
        check_ldap_refusals(host, hostvars, pytestconfig, tmp_path)
    assert host.service("sssd").is_running
    assert host.check_output("id -u dana") == "20001"


def test_changed_settings_empty_the_sssd_cache(host, hostvars, pytestconfig, tmp_path):
    """What SSSD cached under other settings (another directory, other ID numbers) must not answer for the new ones:
    a changed sssd.conf empties its cache. Shown with a change that is harmless here (cached credentials switched),
    then the inventory's settings again."""

    def cached_since():
        host.check_output("getent passwd dana")
        with host.sudo():
            shown = host.check_output("sssctl user-show dana")
        return next(line for line in shown.splitlines() if line.startswith("Cache entry creation date"))

    with host.sudo():
        before = host.check_output(f"sha256sum {CONFIG}")
        cache_credentials = host.file(CONFIG).contains("^cache_credentials = True$")
    first = cached_since()
    switched = run_roles(
        hostvars, pytestconfig, tmp_path, ["directory"], directory_cache_credentials=not cache_credentials
    )
    assert switched.returncode == 0 and "RUNNING HANDLER [directory : Remove the SSSD cache]" in switched.stdout, (
        switched.stdout[-3000:]
    )
    second = cached_since()
    assert second != first
    restored = run_roles(hostvars, pytestconfig, tmp_path, ["directory"])
    assert restored.returncode == 0, restored.stdout[-3000:]
    assert cached_since() != second
    with host.sudo():
        assert host.check_output(f"sha256sum {CONFIG}") == before
    assert host.check_output("id -u dana") == "20001"


def check_ldap_refusals(host, hostvars, pytestconfig, tmp_path):
    with host.sudo():
        before = host.check_output(f"sha256sum {CONFIG}")
    wrong_password = run_roles(hostvars, pytestconfig, tmp_path, ["directory"], directory_ldap_bind_password="wrong")
    assert wrong_password.returncode != 0
    assert "refused these settings" in wrong_password.stdout and "Invalid credentials" in wrong_password.stdout, (
        wrong_password.stdout[-3000:]
    )
    no_group = run_roles(hostvars, pytestconfig, tmp_path, ["directory"], directory_print_groups=["no-such-group"])
    assert no_group.returncode != 0
    assert "The directory has no group no-such-group" in no_group.stdout, no_group.stdout[-3000:]
    plain = run_roles(hostvars, pytestconfig, tmp_path, ["directory"], directory_ldap_uris=["ldap://10.213.0.5:636"])
    assert plain.returncode != 0 and "refused these settings" in plain.stdout, plain.stdout[-3000:]
    with host.sudo():
        assert host.check_output(f"sha256sum {CONFIG}") == before


def check_ad_join(host, hostvars, pytestconfig, tmp_path):
    # Joined: a run without the join password changes nothing.
    joined = run_roles(
        hostvars, pytestconfig, tmp_path, ["directory"], directory_ad_join_user="", directory_ad_join_password=""
    )
    assert joined.returncode == 0 and "changed=0" in joined.stdout, joined.stdout[-3000:]
    with host.sudo():
        before = host.check_output(f"sha256sum {CONFIG}")
        # As if the host had never joined: keep its keytab aside.
        host.check_output("mv /etc/krb5.keytab /etc/krb5.keytab.saved")
    try:
        wrong = run_roles(
            hostvars, pytestconfig, tmp_path, ["directory"], directory_ad_join_password="not-the-password"
        )
        assert wrong.returncode != 0
        assert "refused to join this host" in wrong.stdout, wrong.stdout[-3000:]
        assert "not-the-password" not in wrong.stdout + wrong.stderr
        missing = run_roles(
            hostvars, pytestconfig, tmp_path, ["directory"], directory_ad_join_user="", directory_ad_join_password=""
        )
        assert missing.returncode != 0
        assert "is not a computer of lab.printbridge.test yet" in missing.stdout, missing.stdout[-3000:]
    finally:
        with host.sudo():
            host.check_output("mv -f /etc/krb5.keytab.saved /etc/krb5.keytab")
    with host.sudo():
        assert host.check_output(f"sha256sum {CONFIG}") == before
        assert (
            host.run("adcli testjoin --domain=lab.printbridge.test --domain-controller=dc1.lab.printbridge.test").rc
            == 0
        )
    assert host.service("sssd").is_running
    assert host.check_output("id -u dana") == "20001"
