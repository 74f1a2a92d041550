"""python3 -m printbridge.gateway: run the gateway (as root, usually from systemd with socket activation)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from printbridge import config
from printbridge.gateway.handlers import Handlers, Settings
from printbridge.gateway.server import Server, bind_socket, systemd_socket

# Long enough that a page polling its jobs keeps the gateway up; short enough to give memory back.
IDLE_EXIT = 120.0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python3 -m printbridge.gateway", description=__doc__)
    parser.add_argument("--config", help=f"settings file (default: $PRINTBRIDGE_CONFIG or {config.DEFAULT_PATH})")
    parser.add_argument("--pam-service", default="printbridge", help="PAM service name (default: printbridge)")
    parser.add_argument("--socket", type=Path, help="bind this socket path when systemd passes none")
    parser.add_argument("--group", help="group that may connect to --socket (mode 0660)")
    parser.add_argument(
        "--idle-exit",
        type=float,
        default=IDLE_EXIT,
        help=f"with socket activation, exit after this many idle seconds (default {IDLE_EXIT:g})",
    )
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    if os.geteuid() != 0:
        parser.error("the gateway must run as root (it authenticates with PAM and becomes each user)")
    settings = config.load(args.config)
    listener = systemd_socket()
    # Socket-activated, it need not sit in memory between uses: systemd starts it again.
    idle_exit = args.idle_exit if listener is not None else None
    if listener is None:
        if not args.socket or not args.group:
            parser.error("no socket from systemd: give --socket PATH and --group GROUP")
        listener = bind_socket(args.socket, args.group)
    handlers = Handlers(
        Settings(settings["print_groups"], settings["admin_group"], Path(settings["spool_dir"]), args.pam_service)
    )
    logging.getLogger("printbridge.gateway").info(
        "listening; print groups %s, admins %s", settings["print_groups"], settings["admin_group"]
    )
    Server(listener, handlers).serve(idle_exit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
