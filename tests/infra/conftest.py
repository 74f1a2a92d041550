"""Shared fixtures for the checks run on every converged host (molecule verify)."""

import sys
from pathlib import Path

import pytest

# The checks reach hosts the way the lab harness does.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


@pytest.fixture
def hostvars(host):
    """The host's inventory variables, as the converge saw them."""
    return host.ansible.get_variables()
