"""Lab hosts: an overlay on a cached root filesystem, booted with systemd-nspawn.

A host is either *booted* (systemd as PID 1 in its own network namespace,
reached over SSH) or *prepared* for the image path (pi-gen's chroot mounts in
place, so Ansible's chroot connection can converge it), and a prepared host
can be booted afterwards to check what would be flashed.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from harness import network, rootfs, vm
from harness.run import HarnessError, alive, locked, log, run, succeeds
from harness.settings import Settings

SSH_OPTIONS = (
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "ConnectTimeout=5",
)

# pi-gen's on_chroot mounts these before it runs a stage script in the tree.
CHROOT_MOUNTS = (
    ("proc", ["-t", "proc", "proc"]),
    ("dev", ["--bind", "/dev"]),
    ("dev/pts", ["--bind", "/dev/pts"]),
    ("sys", ["--bind", "/sys"]),
    ("run", ["-t", "tmpfs", "tmpfs"]),
)

BOOT_TIMEOUT = 120
# A card's first boot does more under emulation (its own kernel, the first-boot unit
# running Ansible locally at a twentieth of the speed, and a card's domain join, which
# the boot waits for: 12 to 18 minutes here).
VM_BOOT_TIMEOUT = 1800


@dataclass
class Host:
    name: str
    suite: str
    arch: str
    address: str
    lower: str
    # A card booted in a QEMU virtual machine (harness.vm) rather than with systemd-nspawn.
    vm: bool = False
    # Its IPv6 lab address (Settings.address6); None for cards, and hosts made before the lab had IPv6.
    address6: str | None = None

    @staticmethod
    def directory(settings: Settings, name: str) -> Path:
        return settings.hosts_dir / name

    def paths(self, settings: Settings) -> dict[str, Path]:
        base = self.directory(settings, self.name)
        return {
            "base": base,
            "upper": base / "upper",
            "work": base / "work",
            "debs": base / "debs",
            "root": base / "root",
            "console": base / "console.log",
            "pid": base / "nspawn.pid",
            "meta": base / "host.json",
        }

    def connection(self, settings: Settings) -> dict[str, str | int]:
        """What Ansible, molecule and testinfra need to reach the booted host."""
        return {
            "instance": self.name,
            "address": self.address,
            "address6": self.address6,
            "user": settings.admin_user,
            "become_method": "sudo",
            "port": 22,
            "identity_file": str(settings.ssh_key),
            "root": str(self.paths(settings)["root"]),
        }

    def chroot_connection(self, settings: Settings) -> dict[str, str]:
        """What Ansible needs to converge the prepared tree through the chroot connection."""
        return {
            "instance": self.name,
            "address": str(self.paths(settings)["root"]),
            "connection": "community.general.chroot",
        }


def load(settings: Settings, name: str) -> Host | None:
    meta = Host.directory(settings, name) / "host.json"
    return Host(**json.loads(meta.read_text())) if meta.exists() else None


def names(settings: Settings) -> list[str]:
    if not settings.hosts_dir.is_dir():
        return []
    return sorted(p.name for p in settings.hosts_dir.iterdir() if (p / "host.json").exists())


def _is_mounted(path: Path) -> bool:
    return succeeds(["mountpoint", "-q", str(path)])


def _ensure_ssh_key(settings: Settings) -> None:
    if not settings.ssh_key.exists():
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "printbridge-lab", "-f", str(settings.ssh_key)])


def create(settings: Settings, name: str, suite: str, address: str, *, boot: bool, extra: tuple[str, ...] = ()) -> Host:
    """Make host *name*; on any failure remove what was made and re-raise."""
    if load(settings, name) is not None:
        raise HarnessError(f"host {name} exists already; destroy it first")
    network.check_address(settings, address)
    for other in names(settings):
        host = load(settings, other)
        if host is not None and host.address == address:
            raise HarnessError(f"address {address} is taken by host {other}")
    lower = rootfs.ensure(settings, suite, extra=extra)
    _ensure_ssh_key(settings)
    host = Host(
        name=name,
        suite=suite,
        arch="amd64",
        address=address,
        lower=str(lower),
        address6=str(settings.address6(address)),
    )
    paths = host.paths(settings)
    try:
        for key in ("upper", "work", "root"):
            paths[key].mkdir(parents=True, exist_ok=True)
        paths["meta"].write_text(json.dumps(asdict(host)))
        run(
            [
                "mount",
                "-t",
                "overlay",
                "overlay",
                "-o",
                f"lowerdir={lower},upperdir={paths['upper']},workdir={paths['work']}",
                str(paths["root"]),
            ]
        )
        _personalise(settings, host, host_keys=boot)
        with locked(settings.state_dir / ".network.lock"):
            network.ensure_bridge(settings)
            network.add_namespace(settings, name, address)
        if boot:
            start(settings, host)
        else:
            _boot_files(paths["root"])
            mount_chroot(settings, host)
    except BaseException:
        destroy(settings, name)
        raise
    return host


def _personalise(settings: Settings, host: Host, host_keys: bool) -> None:
    """Own SSH host keys (*host_keys*: not for an image's tree, which pi-gen's
    stage2 leaves without) and a first user with the lab's key and sudo, as
    Raspberry Pi Imager sets up a card: the roles then forbid root logins."""
    root = host.paths(settings)["root"]
    if host_keys:
        run(["ssh-keygen", "-A", "-f", str(root)])
    user = settings.admin_user
    if not succeeds(["chroot", str(root), "id", "-u", user]):
        run(["chroot", str(root), "useradd", "--create-home", "--shell", "/bin/bash", "--password", "*", user])
    sudoers = root / "etc/sudoers.d/010_lab-first-user"
    sudoers.write_text(f"{user} ALL=(ALL) NOPASSWD: ALL\n")
    sudoers.chmod(0o440)
    ssh_dir = root / "home" / user / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    keys = ssh_dir / "authorized_keys"
    keys.write_text(Path(f"{settings.ssh_key}.pub").read_text())
    keys.chmod(0o600)
    run(["chroot", str(root), "chown", "-R", f"{user}:{user}", f"/home/{user}/.ssh"])


def _boot_files(root: Path) -> None:
    """The kernel command line pi-gen's stage1 writes to the boot partition (ROOTDEV is filled
    in by export-image), so an image tree here has what the roles find on a Pi's."""
    firmware = root / "boot/firmware"
    firmware.mkdir(parents=True, exist_ok=True)
    (firmware / "cmdline.txt").write_text(
        "console=serial0,115200 console=tty1 root=ROOTDEV rootfstype=ext4 fsck.repair=yes rootwait\n"
    )


def mount_chroot(settings: Settings, host: Host) -> None:
    root = host.paths(settings)["root"]
    for target, args in CHROOT_MOUNTS:
        if not _is_mounted(root / target):
            run(["mount", *args, str(root / target)])
    archives = root / "var/cache/apt/archives"
    if not _is_mounted(archives):
        run(["mount", "--bind", str(rootfs.debs_dir(settings, host.suite, host.arch)), str(archives)])


def umount_chroot(settings: Settings, host: Host) -> None:
    root = host.paths(settings)["root"]
    targets = [root / "var/cache/apt/archives"] + [root / t for t, _ in reversed(CHROOT_MOUNTS)]
    for target in targets:
        if _is_mounted(target):
            run(["umount", "--recursive", str(target)])


def start(settings: Settings, host: Host, boot_files: dict[str, Path] | None = None) -> None:
    """Boot the host's tree with systemd as PID 1 and wait until it is up; *boot_files* go to its
    /boot/firmware first (what a card's boot partition would hold).

    A host that runs already is left as it is: a second systemd-nspawn on the
    same tree would boot it twice, and the first would outlive its host."""
    if running(settings, host):
        log(f"{host.name} runs already")
        return
    umount_chroot(settings, host)
    paths = host.paths(settings)
    for name, source in (boot_files or {}).items():
        shutil.copyfile(source, paths["root"] / "boot/firmware" / name)
    debs = rootfs.debs_dir(settings, host.suite, host.arch)
    paths["debs"].mkdir(exist_ok=True)
    with paths["console"].open("ab") as console:
        proc = subprocess.Popen(
            [
                "systemd-nspawn",
                "--boot",
                "--register=no",
                "--keep-unit",
                "--quiet",
                f"--directory={paths['root']}",
                f"--machine={host.name}",
                f"--network-namespace-path=/run/netns/{network.namespace(host.name)}",
                "--resolv-conf=copy-host",
                "--timezone=off",
                "--console=read-only",
                # The host's own network namespace: its firewall may manage it.
                "--capability=CAP_NET_ADMIN",
                # The suite's shared cache as a read-only layer: each host
                # has its own apt lock and downloads, so hosts of one suite
                # can run apt at the same time; stop() keeps what they fetched.
                f"--overlay={debs}:{paths['debs']}:/var/cache/apt/archives",
            ],
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    paths["pid"].write_text(str(proc.pid))
    log(f"booting {host.name} ({host.suite}) at {host.address}")
    wait_ready(settings, host, proc)


def card(
    settings: Settings,
    name: str,
    source: str,
    address: str,
    boot_files: dict[str, Path],
    *,
    kernel_address: bool = True,
) -> Host:
    """Host *name*: the tree of *source* (prepared, never booted) as a card in a virtual machine.

    The disk is assembled from the tree as it is now; *source* itself is left
    untouched and may be booted as a container afterwards. Without
    *kernel_address* the card must take *address* itself (its printbridge.yml)."""
    origin = load(settings, source)
    if origin is None or running(settings, origin):
        raise HarnessError(f"{source} is not a prepared (unbooted) host")
    if load(settings, name) is not None:
        raise HarnessError(f"host {name} exists already; destroy it first")
    network.check_address(settings, address)
    host = Host(name=name, suite=origin.suite, arch=origin.arch, address=address, lower="", vm=True)
    paths = host.paths(settings)
    try:
        paths["base"].mkdir(parents=True)
        paths["meta"].write_text(json.dumps(asdict(host)))
        log(f"assembling {name}'s disk from {source}'s tree")
        umount_chroot(settings, origin)
        vm.assemble(origin.paths(settings)["root"], paths["base"] / "disk.img", boot_files)
        with locked(settings.state_dir / ".network.lock"):
            network.ensure_bridge(settings)
            # The VM takes the namespace's eth0 into its own bridge; its card configures IPv4 only.
            network.add_namespace(settings, name, address, ipv6=False)
        proc = vm.start(settings, name, address, paths["base"] / "disk.img", paths["console"], kernel_address)
        paths["pid"].write_text(str(proc.pid))
        wait_ready(settings, host, proc, VM_BOOT_TIMEOUT, interval=5)
    except BaseException:
        destroy(settings, name)
        raise
    return host


def ssh(settings: Settings, host: Host, command: str, *, timeout: int = 60) -> subprocess.CompletedProcess[str]:
    """Run *command* on the host as root (the lab's first user, sudo) with the lab key."""
    return subprocess.run(
        [
            "ssh",
            *SSH_OPTIONS,
            "-i",
            str(settings.ssh_key),
            f"{settings.admin_user}@{host.address}",
            f"sudo -n sh -c {shlex.quote(command)}",
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_ready(
    settings: Settings, host: Host, proc: subprocess.Popen[bytes], timeout: int = BOOT_TIMEOUT, interval: float = 0.5
) -> None:
    """Wait for SSH, then for systemd to finish booting; a failed unit is an error.

    *interval* between attempts: a converged host's firewall rate-limits new SSH
    connections, and a slow boot must not use up the controller's allowance. A port
    that answers is not yet a server that does (with ssh.socket the connection waits
    for ssh.service, which may wait for an image's first boot): ssh's own failures
    (255) are tried again until the deadline."""
    deadline = time.monotonic() + timeout
    console = host.paths(settings)["console"]
    while True:
        if proc.poll() is not None:
            tail = console.read_text(errors="replace").strip().splitlines()[-5:]
            raise HarnessError(f"{host.name}: {proc.args[0]} exited {proc.returncode}: {' / '.join(tail)}")
        remaining = int(deadline - time.monotonic())
        if remaining <= 0:
            raise HarnessError(f"{host.name}: no SSH login within {timeout}s; see {console}")
        try:
            result = ssh(settings, host, "systemctl is-system-running --wait", timeout=max(10, remaining))
        except subprocess.TimeoutExpired:
            continue
        if result.returncode != 255:  # 255: ssh itself failed (not up yet); else systemd's answer
            break
        time.sleep(interval)
    state = result.stdout.strip()
    if state != "running":
        failed = ssh(settings, host, "systemctl --failed --no-legend --plain").stdout.strip()
        raise HarnessError(f"{host.name}: system is {state or 'unreachable'} after boot; failed units: {failed}")


def running(settings: Settings, host: Host) -> bool:
    """True when the host's nspawn runs and it answers over SSH."""
    pidfile = host.paths(settings)["pid"]
    if not pidfile.exists() or not alive(int(pidfile.read_text()), vm.QEMU if host.vm else "systemd-nspawn"):
        return False
    return ssh(settings, host, "true", timeout=15).returncode == 0


def stop(settings: Settings, host: Host) -> None:
    """Orderly poweroff (nspawn turns SIGTERM into one), SIGKILL as a last resort."""
    pidfile = host.paths(settings)["pid"]
    if not pidfile.exists():
        return
    pid = int(pidfile.read_text())
    if host.vm:
        vm.stop(pid, lambda: ssh(settings, host, "systemctl --no-block poweroff", timeout=15))
    elif alive(pid, "systemd-nspawn"):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while alive(pid, "systemd-nspawn") and time.monotonic() < deadline:
            time.sleep(0.25)
        if alive(pid, "systemd-nspawn"):
            log(f"{host.name}: no clean poweroff within 30s, killing")
            os.killpg(pid, signal.SIGKILL)
            while alive(pid, "systemd-nspawn"):
                time.sleep(0.1)
    pidfile.unlink()
    _keep_downloads(settings, host)


def _keep_downloads(settings: Settings, host: Host) -> None:
    """Add the packages this host downloaded to its suite's shared cache."""
    shared = rootfs.debs_dir(settings, host.suite, host.arch)
    for deb in host.paths(settings)["debs"].glob("*.deb"):
        target = shared / deb.name
        if not target.exists():
            # Link under a private name, then rename: readers never see half a file.
            partial = shared / "partial" / f"{deb.name}.{host.name}"
            partial.unlink(missing_ok=True)
            os.link(deb, partial)
            partial.replace(target)


def destroy(settings: Settings, name: str) -> None:
    """Remove every trace of host *name*; the last host out removes the bridge."""
    host = load(settings, name)
    base = Host.directory(settings, name)
    if host is not None:
        stop(settings, host)
        umount_chroot(settings, host)
    root = base / "root"
    if _is_mounted(root):
        run(["umount", "--recursive", str(root)])
    with locked(settings.state_dir / ".network.lock"):
        network.remove_namespace(name)
        if base.exists():
            run(["rm", "-rf", "--one-file-system", str(base)])
        network.release(settings)
    log(f"destroyed {name}")


def sweep(settings: Settings) -> None:
    """After destroying every host: remove what a crashed run may have left."""
    for ns in Path("/run/netns").glob("pb-*") if Path("/run/netns").is_dir() else ():
        network.remove_namespace(ns.name.removeprefix("pb-"))
    network.remove_bridge(settings)
