"""Command line: python -m harness {rootfs,create,up,boot,card,peer,destroy,list}."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from harness import hosts, peers, rootfs
from harness.run import HarnessError
from harness.settings import load


def boot_files(items: list[str]) -> dict[str, Path]:
    """--boot-file NAME=PATH arguments as {NAME: PATH}."""
    found = {}
    for item in items:
        name, separator, path = item.partition("=")
        if not separator or not name or "/" in name or not Path(path).is_file():
            raise HarnessError(f"--boot-file {item}: NAME=PATH with a plain NAME and an existing file PATH")
        found[name] = Path(path)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_rootfs = sub.add_parser("rootfs", help="build (or reuse) the cached root filesystem of a suite")
    p_rootfs.add_argument("suite", choices=rootfs.SUITES)
    p_rootfs.add_argument("--with", dest="extra", nargs="*", default=[], help="further packages in the tree")
    p_rootfs.add_argument("--arch", choices=rootfs.ARCHES, default="amd64")
    p_rootfs.add_argument(
        "--lite", metavar="FIRST_USER", help="what pi-gen's stage2 (Lite) leaves, with this first user"
    )
    p_create = sub.add_parser("create", help="create a host; prints its connection as JSON")
    p_create.add_argument("name")
    p_create.add_argument("--suite", choices=rootfs.SUITES, default="trixie")
    p_create.add_argument("--address", required=True, help="an address of the lab subnet")
    p_create.add_argument("--with", dest="extra", nargs="*", default=[], help="further packages in its tree")
    p_create.add_argument(
        "--chroot", action="store_true", help="prepare the tree for the chroot (image) path instead of booting it"
    )
    p_up = sub.add_parser("up", help="like create, but keep an existing host when it is still running")
    p_up.add_argument("name")
    p_up.add_argument("--suite", choices=rootfs.SUITES, default="trixie")
    p_up.add_argument("--address", required=True, help="an address of the lab subnet")
    p_up.add_argument("--with", dest="extra", nargs="*", default=[], help="further packages in its tree")
    p_boot = sub.add_parser("boot", help="boot a host prepared with --chroot")
    p_boot.add_argument("name")
    p_boot.add_argument(
        "--boot-file",
        dest="boot_files",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="put PATH into the tree's /boot/firmware as NAME before it boots",
    )
    p_card = sub.add_parser("card", help="a prepared host's tree as a card (disk image) booted in a virtual machine")
    p_card.add_argument("name")
    p_card.add_argument("--from", dest="source", required=True, help="the prepared (--chroot) host whose tree to use")
    p_card.add_argument("--address", required=True, help="an address of the lab subnet")
    p_card.add_argument(
        "--boot-file",
        dest="boot_files",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="put PATH on the card's boot partition as NAME (e.g. printbridge.yml)",
    )
    p_card.add_argument(
        "--own-network",
        action="store_true",
        help="the card configures its address itself (its printbridge.yml): none on the kernel command line",
    )
    p_peer = sub.add_parser("peer", help="a bare network namespace on the lab bridge (an office PC)")
    p_peer.add_argument("name")
    p_peer.add_argument("--address", required=True, help="an address of the lab subnet")
    p_destroy = sub.add_parser("destroy", help="stop and remove hosts, and the lab network with the last one")
    p_destroy.add_argument("names", nargs="*")
    p_destroy.add_argument("--all", action="store_true")
    sub.add_parser("list", help="hosts that exist, as JSON")
    args = parser.parse_args(argv)

    if os.geteuid() != 0:
        print("error: the harness needs root (debootstrap, mounts, network namespaces)", file=sys.stderr)
        return 2
    try:
        settings = load()
        if args.command == "rootfs":
            print(rootfs.ensure(settings, args.suite, args.arch, tuple(args.extra), first_user=args.lite))
        elif args.command == "create":
            host = hosts.create(
                settings, args.name, args.suite, args.address, boot=not args.chroot, extra=tuple(args.extra)
            )
            print(json.dumps(host.chroot_connection(settings) if args.chroot else host.connection(settings)))
        elif args.command == "up":
            host = hosts.load(settings, args.name)
            wanted = rootfs.ensure(settings, args.suite, extra=tuple(args.extra))
            if host is None or not hosts.running(settings, host) or Path(host.lower) != wanted:
                hosts.destroy(settings, args.name)
                host = hosts.create(settings, args.name, args.suite, args.address, boot=True, extra=tuple(args.extra))
            print(json.dumps(host.connection(settings)))
        elif args.command == "boot":
            host = hosts.load(settings, args.name)
            if host is None:
                raise HarnessError(f"no host {args.name}")
            hosts.start(settings, host, boot_files(args.boot_files))
            print(json.dumps(host.connection(settings)))
        elif args.command == "card":
            host = hosts.card(
                settings,
                args.name,
                args.source,
                args.address,
                boot_files(args.boot_files),
                kernel_address=not args.own_network,
            )
            print(json.dumps(host.connection(settings)))
        elif args.command == "peer":
            print(json.dumps(peers.create(settings, args.name, args.address)))
        elif args.command == "destroy":
            for name in (hosts.names(settings) + peers.names(settings)) if args.all else args.names:
                if not peers.destroy(settings, name):
                    hosts.destroy(settings, name)
            if args.all:
                hosts.sweep(settings)
        elif args.command == "list":
            found = [hosts.load(settings, name) for name in hosts.names(settings)]
            print(json.dumps([h.connection(settings) for h in found if h is not None]))
    except (HarnessError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
