"""Checks of the root filesystem our pi-gen stage converged (tests/image/pigen-stage).

The tree is reached through Ansible's chroot connection (inventory/image, with
ROOTFS_DIR pointing at the tree), as the stage converged it: testinfra's
ansible backend with --force-ansible, so every command runs in the arm64 tree
under qemu-user. Nothing in the tree is started: a chroot is not a booted host.
"""

import os

import pytest


@pytest.fixture(scope="session")
def admin_key():
    return os.environ["PRINTBRIDGE_ADMIN_KEY"]


@pytest.fixture(scope="session")
def first_user():
    return os.environ.get("FIRST_USER_NAME", "pbadmin")
