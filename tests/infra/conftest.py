"""Shared fixtures for the checks run on every converged host (molecule verify)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

# The checks reach hosts the way the lab harness does.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness.hosts import SSH_OPTIONS

HERE = Path(__file__).resolve().parent
OFFICE_NAMESPACE = "pb-office"
PRINTER_ADDRESS = "10.213.0.5"


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
            ["ssh", *SSH_OPTIONS, "-i", hostvars["ansible_private_key_file"], f"root@{PRINTER_ADDRESS}", command],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout

    return run
