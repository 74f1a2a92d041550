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


def main() -> int:
    parser = argparse.ArgumentParser(prog="python3 -m printbridge.gateway", description=__doc__)
    parser.add_argument("--config", help=f"settings file (default: $PRINTBRIDGE_CONFIG or {config.DEFAULT_PATH})")
    parser.add_argument("--pam-service", default="printbridge", help="PAM service name (default: printbridge)")
    parser.add_argument("--socket", type=Path, help="bind this socket path when systemd passes none")
    parser.add_argument("--group", help="group that may connect to --socket (mode 0660)")
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    if os.geteuid() != 0:
        parser.error("the gateway must run as root (it authenticates with PAM and becomes each user)")
    settings = config.load(args.config)
    listener = systemd_socket()
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
    Server(listener, handlers).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
