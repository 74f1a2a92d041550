"""Boot a prepared (chroot-converged) host as a virtual machine (QEMU), as a card boots.

The tree is laid out the way pi-gen's export-image lays out a card: a FAT boot
partition labelled ``bootfs`` (where an admin may drop ``printbridge.yml``) and
an ext4 root partition labelled ``rootfs``, mounted through /etc/fstab. Unlike
a container, the VM has its own kernel (the tree's, with AppArmor and audit),
its own clock and a real first boot. The VM sits in the host's network
namespace, bridged to the lab through the namespace's eth0, so peers and
firewall tests see it exactly where they would see a container host.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

from harness import network
from harness.run import HarnessError, alive, log, run
from harness.settings import Settings

BOOT_MB = 256
# Room on the root partition beyond what the tree holds: logs, apt, first boot.
SPARE_MB = 1024
MEMORY_MB = 1024
QEMU = "qemu-system-x86_64"
# KVM would be the obvious choice, but this machine's /dev/kvm cannot run a Linux
# guest (QEMU 7.2 and 10.0 alike: "-cpu host" fails setting MSR 0x10a, other CPU
# models stop with "KVM internal error, emulation failure" in the kernel's
# decompressor): so QEMU emulates the CPU (TCG, one thread per virtual CPU).
ACCELERATION = ("-accel", "tcg,thread=multi", "-cpu", "max")
FSTAB = """\
# Written when the card's image was assembled (as pi-gen's export-image does).
LABEL=bootfs /boot/firmware vfat defaults,umask=0077 0 2
LABEL=rootfs / ext4 defaults,noatime 0 1
"""


def _mib(size: int) -> int:
    return -(-size // (1024 * 1024))


def kernel_files(root: Path) -> tuple[Path, Path]:
    """The tree's newest kernel and its initramfs (the Debian kernel package's files in /boot)."""
    kernels = sorted(root.glob("boot/vmlinuz-*"))
    if not kernels:
        raise HarnessError(f"{root} has no kernel: create the host --with linux-image-amd64")
    initrd = root / "boot" / kernels[-1].name.replace("vmlinuz-", "initrd.img-", 1)
    if not initrd.exists():
        raise HarnessError(f"{root} has a kernel but no {initrd.name}")
    return kernels[-1], initrd


def assemble(root: Path, disk: Path, boot_files: dict[str, Path]) -> None:
    """Write the tree *root* and *boot_files* into the partitioned raw disk image *disk*
    (with a kernel and initramfs beside it). The tree itself is left as it was."""
    kernel, initrd = kernel_files(root)
    used = int(run(["du", "-s", "-x", "-B1", str(root)]).stdout.split()[0])
    root_mb = _mib(used) + SPARE_MB
    disk.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(dir=disk.parent) as scratch:
        boot_img, root_img, fstab = (Path(scratch) / name for name in ("boot.img", "root.img", "fstab"))
        run(["mkfs.vfat", "-n", "bootfs", "-C", str(boot_img), str(BOOT_MB * 1024)])
        # What the tree holds in /boot/firmware goes to the boot partition, as export-image copies it.
        firmware = root / "boot/firmware"
        firmware.mkdir(parents=True, exist_ok=True)
        for entry in sorted(firmware.iterdir()):
            run(["mcopy", "-s", "-i", str(boot_img), str(entry), f"::{entry.name}"])
        for name, source in boot_files.items():
            run(["mcopy", "-o", "-i", str(boot_img), str(source), f"::{name}"])
        # ...and not to the root file system, where the boot partition is mounted over it.
        empty = Path(scratch) / "empty"
        empty.mkdir()
        run(["mount", "--bind", str(empty), str(firmware)])
        try:
            run(["mkfs.ext4", "-q", "-F", "-L", "rootfs", "-d", str(root), str(root_img), f"{root_mb}M"])
        finally:
            run(["umount", str(firmware)])
        # The card's fstab goes into the file system only, as export-image writes it.
        fstab.write_text(FSTAB)
        fstab.chmod(0o644)
        for request in ("mkdir /boot/firmware", "rm /etc/fstab", f"write {fstab} /etc/fstab"):
            subprocess.run(["debugfs", "-w", "-R", request, str(root_img)], capture_output=True, check=False)
        if FSTAB not in run(["debugfs", "-R", "cat /etc/fstab", str(root_img)]).stdout:
            raise HarnessError(f"could not write /etc/fstab into {root_img}")
        # 1 MiB of partition table, then the two partitions, as on a card.
        run(["truncate", "-s", f"{1 + BOOT_MB + root_mb}M", str(disk)])
        layout = f"label: dos\nstart=1MiB, size={BOOT_MB}MiB, type=c\nstart={1 + BOOT_MB}MiB, type=83\n"
        subprocess.run(["sfdisk", "--quiet", str(disk)], input=layout, text=True, check=True, capture_output=True)
        for image, offset in ((boot_img, 1), (root_img, 1 + BOOT_MB)):
            run(["dd", f"if={image}", f"of={disk}", "bs=1M", f"seek={offset}", "conv=notrunc,sparse", "status=none"])
    # The firmware of a Pi loads these from the boot partition; QEMU loads them itself.
    for source, name in ((kernel, "vmlinuz"), (initrd, "initrd.img")):
        run(["cp", str(source), str(disk.with_name(name))])


def _bridge_namespace(host_name: str) -> str:
    """Give the namespace's eth0 to a bridge with the VM's tap: the VM owns the address now."""
    ns = network.namespace(host_name)
    tap = f"tap{zlib.crc32(host_name.encode()):08x}"[:15]
    run(["ip", "-n", ns, "addr", "flush", "dev", "eth0"])
    run(["ip", "-n", ns, "link", "add", "br0", "type", "bridge"])
    run(["ip", "-n", ns, "link", "set", "eth0", "master", "br0"])
    run(["ip", "-n", ns, "tuntap", "add", "dev", tap, "mode", "tap"])
    run(["ip", "-n", ns, "link", "set", tap, "master", "br0", "up"])
    run(["ip", "-n", ns, "link", "set", "br0", "up"])
    return tap


def start(
    settings: Settings, name: str, address: str, disk: Path, console: Path, kernel_address: bool = True
) -> subprocess.Popen[bytes]:
    """Boot the card *disk* (made by assemble) in host *name*'s namespace; return QEMU's process. With
    *kernel_address* the kernel command line gives it *address*; else the card takes it itself."""
    tap = _bridge_namespace(name)
    mac = "52:54:00:{:02x}:{:02x}:{:02x}".format(*zlib.crc32(name.encode()).to_bytes(4, "big")[1:])
    netmask = str(settings.subnet.netmask)
    # The lab's address comes from the kernel command line (systemd-network-generator turns
    # ip= into a networkd file under /run), so nothing is written into the tree for it.
    from_kernel = [
        f"ip={address}::{settings.gateway}:{netmask}::eth0:off",
        "systemd.wants=systemd-network-generator.service",
        "systemd.wants=systemd-networkd.service",
    ]
    cmdline = " ".join(
        [
            "root=LABEL=rootfs",
            "rw",
            "console=ttyS0",
            "net.ifnames=0",
            *(from_kernel if kernel_address else []),
            "apparmor=1",
            "security=apparmor",
        ]
    )
    command = [
        *("ip", "netns", "exec", network.namespace(name), QEMU),
        *ACCELERATION,
        *("-m", str(MEMORY_MB), "-smp", "2"),
        *("-display", "none", "-monitor", "none", "-serial", f"file:{console}"),
        *("-kernel", str(disk.with_name("vmlinuz")), "-initrd", str(disk.with_name("initrd.img"))),
        *("-append", cmdline),
        *("-drive", f"file={disk},format=raw,if=virtio"),
        *("-netdev", f"tap,id=lab,ifname={tap},script=no,downscript=no"),
        *("-device", f"virtio-net-pci,netdev=lab,mac={mac}"),
    ]
    # `ip netns exec` execs qemu: the process is qemu's own.
    with console.open("ab") as output:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=output, start_new_session=True)
    log(f"booting {name} in a virtual machine (QEMU) at {address}")
    return proc


def stop(pid: int, poweroff: Callable[[], object]) -> None:
    """An orderly poweroff from inside (*poweroff*), then SIGKILL as a last resort."""
    if not alive(pid, QEMU):
        return
    poweroff()
    deadline = time.monotonic() + 60
    while alive(pid, QEMU) and time.monotonic() < deadline:
        time.sleep(0.25)
    if alive(pid, QEMU):
        log("the VM did not power off within 60s, killing it")
        os.kill(pid, signal.SIGKILL)
        while alive(pid, QEMU):
            time.sleep(0.1)
