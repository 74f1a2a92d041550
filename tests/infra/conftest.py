"""Shared fixtures for the checks run on every converged host (molecule verify)."""

import functools
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

# The checks reach hosts the way the lab harness does.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness import hosts as lab_hosts
from harness import settings as lab_settings
from harness.hosts import SSH_OPTIONS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
IMAGE = os.environ.get("MOLECULE_SCENARIO_NAME") == "image"


def verify_certificate(ca_file, leaf_file):
    """openssl's verdict on *leaf_file* as a TLS server certificate issued under *ca_file*."""
    return subprocess.run(
        ["openssl", "verify", "-CAfile", str(ca_file), "-purpose", "sslserver", str(leaf_file)],
        capture_output=True,
        text=True,
        check=False,
    )


def lynis_index(address, timeout=900):
    """Lynis's hardening index of a lab host, run the way bench/audit runs it (bench/lynis-audit); and
    the report's lines (the index, warnings, suggestions)."""
    result = subprocess.run(
        [str(HERE.parents[1] / "bench/lynis-audit"), address],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return int(re.search(r"^hardening_index=(\d+)$", result.stdout, re.M).group(1)), result.stdout


# Lynis on the emulated card takes 20 to 30 minutes: only `scripts/test card-audit` runs it.
CARD_AUDIT = os.environ.get("PB_CARD_AUDIT") == "1"


def pytest_configure(config):
    config.addinivalue_line("markers", "image_only: a check of what only the image scenario has (first boot, card)")
    config.addinivalue_line("markers", "card_audit: Lynis on the card, run by `scripts/test card-audit` only")
    config.addinivalue_line(
        "markers",
        "default_only: a slow check of what the roles' files do (protocol scans, fuzzing, browser and mail flows), "
        "which the image path cannot change once re-converged: the default scenario's hosts run it",
    )


def pytest_collection_modifyitems(config, items):
    """Checks marked image_only apply to the image scenario alone, default_only to the default scenario alone
    (the suite's time: see the marker), and card_audit to `scripts/test card-audit` alone; elsewhere they are
    deselected, not run or skipped (molecule names every test file, so collect_ignore
    would not keep them out)."""
    other = [
        item
        for item in items
        if (item.get_closest_marker("image_only") and not IMAGE)
        or (item.get_closest_marker("default_only") and IMAGE)
        or (item.get_closest_marker("card_audit") and not CARD_AUDIT)
    ]
    if other:
        config.hook.pytest_deselected(items=other)
        items[:] = [item for item in items if item not in other]


PRINTER_ADDRESS = "10.213.0.5"
# The image scenario's card (molecule/image/molecule.yml).
CARD = "pb-card"


@pytest.fixture(scope="module")
def card_address():
    """The address of the image scenario's card, booted in a virtual machine by molecule/image/boot.yml."""
    found = lab_hosts.load(lab_settings.load(), CARD)
    assert found is not None and found.vm, f"{CARD} was not booted as a card (molecule/image/boot.yml)"
    return found.address


def peer_namespace(peer):
    """The network namespace of lab peer *peer* (office, admin, foreign: molecule/resources/vars/lab.yml);
    PB_<PEER>_NAMESPACE points the checks at another peer, as for tests/infra/office-chromium."""
    return os.environ.get(f"PB_{peer.upper()}_NAMESPACE", f"pb-{peer}")


OFFICE_NAMESPACE = peer_namespace("office")


def in_peer(peer, *command, check=False, timeout=60, **kwargs):
    """Run a command on a lab peer (its own network namespace); text output captured."""
    return subprocess.run(
        ["ip", "netns", "exec", peer_namespace(peer), *command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
        **kwargs,
    )


# The office PC, where most checks run their clients.
in_office = functools.partial(in_peer, "office")


@functools.cache
def office_address():
    """The office PC's IPv4 address on the lab network."""
    shown = subprocess.run(
        ["ip", "-n", OFFICE_NAMESPACE, "-4", "-o", "addr", "show", "scope", "global"],
        capture_output=True,
        text=True,
        check=True,
    )
    return shown.stdout.split()[3].split("/")[0]


def unlogged(secret):
    """A shell word that expands to *secret* without containing it: sudo logs each command line to the
    journal, so a search for a secret must not plant it there itself."""
    half = len(secret) // 2
    return f'"$(printf %s {shlex.quote(secret[:half])} {shlex.quote(secret[half:])})"'


def run_roles(hostvars, pytestconfig, tmp_path, roles, *options, **extra_vars):
    """Run only *roles* against this host, as an admin would, with ansible-playbook options and extra variables."""
    playbook = tmp_path / "roles.yml"
    playbook.write_text(f"- hosts: all\n  become: true\n  roles: {json.dumps(roles)}\n")
    env = dict(
        os.environ,
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_ROLES_PATH=str(ROOT / "roles"),
    )
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            *("-i", pytestconfig.getoption("ansible_inventory")),
            *("--limit", hostvars["inventory_hostname"]),
            *("-e", json.dumps(extra_vars)),
            *options,
            str(playbook),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def hostvars(host):
    """The host's inventory variables, as the converge saw them."""
    return host.ansible.get_variables()


@pytest.fixture
def lab_state(hostvars):
    return Path(hostvars["ansible_private_key_file"]).parent


@pytest.fixture
def password(lab_state):
    """Passwords molecule's prepare step gave the office users."""
    return lambda user: (lab_state / "users" / user).read_text().split()[0]


@pytest.fixture
def office(hostvars, password):
    """Run the IPP client as an office PC (in its own network namespace) against this host."""

    def client(user, action, *args, secret=None):
        result = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                OFFICE_NAMESPACE,
                sys.executable,
                str(HERE / "ippclient.py"),
                hostvars["ansible_host"],
                user,
                password(user) if secret is None else secret,
                action,
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=True,
        )
        return json.loads(result.stdout)

    return client


@pytest.fixture
def printer(hostvars):
    """Run a command on the office printer host (ippeveprinter) as root."""

    def run(command):
        return subprocess.run(
            [
                "ssh",
                *SSH_OPTIONS,
                "-i",
                hostvars["ansible_private_key_file"],
                f"pbadmin@{PRINTER_ADDRESS}",
                f"sudo -n sh -c {shlex.quote(command)}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout

    return run


# The web app, seen from the office PC: a browser (Playwright driving Debian's chromium
# inside the office namespace) and an HTTP client (webclient.py), both against https://ADDRESS.
OFFICE_CHROMIUM = HERE / "office-chromium"


@pytest.fixture
def site(hostvars):
    """The web app's address as office staff type it."""
    return f"https://{hostvars['ansible_host']}"


@pytest.fixture
def web(site, password):
    """Send HTTP requests to the web app from the office PC, optionally signed in as a user; see webclient.py."""

    def client(requests, user=None, timeout=120):
        spec = {"login": {"user": user, "password": password(user)} if user else None, "requests": requests}
        result = subprocess.run(
            ["ip", "netns", "exec", OFFICE_NAMESPACE, sys.executable, str(HERE / "webclient.py"), site],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert result.returncode == 0, f"webclient.py failed: {result.stderr[-3000:]}"
        return json.loads(result.stdout)

    return client


@pytest.fixture
def artifacts(lab_state):
    """Where CI keeps what a run leaves for people to look at (screenshots)."""
    return Path(os.environ.get("PB_ARTIFACTS") or lab_state / "artifacts")


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium in the office namespace, driven by Playwright (it cannot download a browser of its own)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # As root, chromium needs --no-sandbox; the lab hosts' certificates are self-signed.
        chromium = playwright.chromium.launch(executable_path=str(OFFICE_CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def clear_office_lockout(host):
    """Forget failed sign-ins from the office PC and the lab users, so that tests which sign in wrongly on
    purpose (and earlier runs of them) do not add up to the app's lockout. Runs as the owner of the lockout
    database, so that SQLite's side files stay the app's."""
    script = f"""
import os, sqlite3, tomllib
with open("/etc/printbridge/web.toml", "rb") as handle:
    path = os.path.join(tomllib.load(handle).get("state_dir", "/var/lib/printbridge/web"), "logins.sqlite3")
if os.path.exists(path):
    owner = os.stat(path)
    os.setgid(owner.st_gid)
    os.setuid(owner.st_uid)
    db = sqlite3.connect(path, timeout=10)
    db.execute("DELETE FROM failures WHERE key IN ('addr:{office_address()}', 'user:alice', 'user:bob', 'user:carol')")
    db.commit()
"""

    def clear():
        with host.sudo():
            host.check_output(f"python3 -c {shlex.quote(script)}")

    clear()
    yield clear
    clear()
