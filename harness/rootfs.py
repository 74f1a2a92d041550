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
import subprocess
from pathlib import Path

from harness.run import locked, log, run
from harness.settings import Settings

# Bump when the build steps below change in a way the key cannot see.
RECIPE_VERSION = 1

# Architectures a tree can be built for; arm64 runs through qemu-user-static
# (binfmt_misc with the "F" flag, so nothing is copied into the tree).
ARCHES = ("amd64", "arm64")

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


# What pi-gen's stage0-stage2 (Raspberry Pi OS Lite) add on top, where Debian
# has it: NetworkManager, avahi, time sync, fake-hwclock, locales and the usual
# command-line tools. The Raspberry Pi archive (kernel, firmware,
# raspberrypi-sys-mods, raspi-config) is out of reach for CI, so a "Lite" tree
# here is Debian only.
LITE_PACKAGES = (
    "avahi-daemon",
    "bash-completion",
    "curl",
    "ethtool",
    "fake-hwclock",
    "file",
    "less",
    "locales",
    "network-manager",
    "parted",
    "psmisc",
    "rsync",
    "systemd-timesyncd",
    "unzip",
    "usbutils",
    "xz-utils",
)

# The groups pi-gen's stage2 (01-sys-tweaks) puts the first user in, where
# Debian has them (gpio, spi and i2c come from raspberrypi-sys-mods).
LITE_USER_GROUPS = (
    "adm",
    "dialout",
    "cdrom",
    "audio",
    "users",
    "sudo",
    "video",
    "games",
    "plugdev",
    "input",
    "netdev",
    "render",
)


def cache_key(
    suite: str, arch: str, mirror: str, packages: tuple[str, ...] = PACKAGES, first_user: str | None = None
) -> str:
    """Short digest of everything that shapes the tree."""
    recipe: dict[str, object] = {
        "suite": suite,
        "arch": arch,
        "mirror": mirror,
        "packages": sorted(packages),
        "recipe": RECIPE_VERSION,
    }
    if first_user is not None:
        recipe["lite_first_user"] = first_user
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def debs_dir(settings: Settings, suite: str, arch: str) -> Path:
    """Shared package cache for one suite and architecture."""
    path = settings.cache_dir / "debs" / f"{suite}-{arch}"
    (path / "partial").mkdir(parents=True, exist_ok=True)
    return path


def ensure(
    settings: Settings,
    suite: str,
    arch: str = "amd64",
    extra: tuple[str, ...] = (),
    *,
    first_user: str | None = None,
) -> Path:
    """Return the cached tree for *suite* (with *extra* packages), building it first when missing.

    With *first_user* the tree is what pi-gen's stage2 (Lite) leaves: the Lite
    packages and that first user made as stage1/stage2 make it (no password,
    pi-gen's groups and sudoers file, SSH enabled), for the image stage's test.
    """
    if suite not in SUITES:
        raise ValueError(f"unsupported suite {suite!r}; choose one of {', '.join(SUITES)}")
    if arch not in ARCHES:
        raise ValueError(f"unsupported architecture {arch!r}; choose one of {', '.join(ARCHES)}")
    packages = (*PACKAGES, *(LITE_PACKAGES if first_user else ()), *extra)
    flavour = f"{suite}-{arch}-lite" if first_user else f"{suite}-{arch}"
    name = f"{flavour}-{cache_key(suite, arch, settings.mirror, packages, first_user)}"
    tree = settings.cache_dir / "rootfs" / name
    with locked(settings.cache_dir / "rootfs" / f".{name}.lock"):
        if tree.is_dir():
            return tree
        partial = tree.with_name(f".{name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        log(f"building {suite}/{arch} root filesystem (cached as {tree.name})")
        debs = debs_dir(settings, suite, arch)
        # One debootstrap at a time per package cache: two downloading the
        # same package into it at once (hosts created in parallel, the suite's
        # stages side by side) would clash.
        with locked(debs / ".debootstrap.lock"):
            run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--arch={arch}",
                    f"--include={','.join(packages)}",
                    f"--cache-dir={debs}",
                    suite,
                    str(partial),
                    settings.mirror,
                ]
            )
        _finish(partial, suite, settings.mirror)
        if first_user:
            _lite(partial, first_user)
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


def _lite(tree: Path, user: str) -> None:
    """The end of pi-gen's stage2, as far as Debian reaches: stage1 makes the
    first user without a password, stage2 adds its groups and passwordless sudo
    (010_pi-nopasswd) and enables SSH (ENABLE_SSH=1); the root account stays
    without a password. No mounts are needed for these commands."""
    groups = [g for g in LITE_USER_GROUPS if _chroot_ok(tree, "getent", "group", g)]
    run(["chroot", str(tree), "adduser", "--disabled-password", "--comment", "", user])
    run(["chroot", str(tree), "usermod", "--append", "--groups", ",".join(groups), user])
    run(["chroot", str(tree), "usermod", "--password", "*", "root"])
    sudoers = tree / "etc/sudoers.d/010_pi-nopasswd"
    sudoers.write_text(f"{user} ALL=(ALL) NOPASSWD: ALL\n")
    sudoers.chmod(0o440)
    run(["chroot", str(tree), "systemctl", "enable", "ssh"])
    (tree / "etc/hostname").write_text("raspberrypi\n")
    (tree / "etc/hosts").write_text(
        "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n"
        "ff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n\n127.0.1.1\traspberrypi\n"
    )


def _chroot_ok(tree: Path, *cmd: str) -> bool:
    return subprocess.run(["chroot", str(tree), *cmd], capture_output=True, check=False).returncode == 0
