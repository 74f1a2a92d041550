"""Shared fixtures for the checks run on every converged host (molecule verify)."""

import pytest


@pytest.fixture
def hostvars(host):
    """The host's inventory variables, as the converge saw them."""
    return host.ansible.get_variables()
