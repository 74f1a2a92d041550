"""Debian root filesystems built with debootstrap and cached by recipe.

A cached tree is keyed by everything that shapes it (suite, architecture,
package list, mirror, recipe version), so changing any of them builds a new
one instead of reusing a stale tree. Downloaded .deb files are kept per suite
and architecture and shared by debootstrap and by apt inside the hosts.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from harness.run import locked, log, run
from harness.settings import Settings

# Bump when the build steps below change in a way the key cannot see.
RECIPE_VERSION = 1

SUITES = ("trixie", "bookworm")

# What a freshly flashed Raspberry Pi OS Lite card already has: systemd as
# init, an SSH server and Python for Ansible. Everything else is the roles' job.
PACKAGES = (
    "ca-certificates",
    "dbus",
    "iproute2",
    "openssh-server",
    "python3",
    "python3-apt",
    "sudo",
    "systemd-sysv",
)

SOURCES = """\
Types: deb
URIs: {mirror}
Suites: {suite} {suite}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: {security}
Suites: {suite}-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


def cache_key(suite: str, arch: str, mirror: str, packages: tuple[str, ...] = PACKAGES) -> str:
    """Short digest of everything that shapes the tree."""
    recipe = json.dumps(
        {"suite": suite, "arch": arch, "mirror": mirror, "packages": sorted(packages), "recipe": RECIPE_VERSION},
        sort_keys=True,
    )
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def debs_dir(settings: Settings, suite: str, arch: str) -> Path:
    """Shared package cache for one suite and architecture."""
    path = settings.cache_dir / "debs" / f"{suite}-{arch}"
    (path / "partial").mkdir(parents=True, exist_ok=True)
    return path


def ensure(settings: Settings, suite: str, arch: str = "amd64", extra: tuple[str, ...] = ()) -> Path:
    """Return the cached tree for *suite* (with *extra* packages), building it first when missing."""
    if suite not in SUITES:
        raise ValueError(f"unsupported suite {suite!r}; choose one of {', '.join(SUITES)}")
    packages = (*PACKAGES, *extra)
    name = f"{suite}-{arch}-{cache_key(suite, arch, settings.mirror, packages)}"
    tree = settings.cache_dir / "rootfs" / name
    with locked(settings.cache_dir / "rootfs" / f".{name}.lock"):
        if tree.is_dir():
            return tree
        partial = tree.with_name(f".{name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        log(f"building {suite}/{arch} root filesystem (cached as {tree.name})")
        run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--arch={arch}",
                f"--include={','.join(packages)}",
                f"--cache-dir={debs_dir(settings, suite, arch)}",
                suite,
                str(partial),
                settings.mirror,
            ]
        )
        _finish(partial, suite, settings.mirror)
        partial.rename(tree)
        return tree


def _finish(tree: Path, suite: str, mirror: str) -> None:
    """Make the tree look like an installed system rather than a template."""
    (tree / "etc/apt/sources.list").unlink(missing_ok=True)
    security = mirror.removesuffix("/debian") + "/debian-security"
    (tree / "etc/apt/sources.list.d/debian.sources").write_text(
        SOURCES.format(mirror=mirror, security=security, suite=suite)
    )
    # Every host gets its own SSH host keys when it is created.
    for key in (tree / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (tree / "etc/hostname").write_text("localhost\n")
