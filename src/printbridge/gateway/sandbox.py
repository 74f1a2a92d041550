"""Run one operation in a forked child that has become the user.

The parent (root) never calls libcups: libcups keeps per-process user and
credential state, so every CUPS call happens in a fresh child that dropped to
the user's uid, gid and supplementary groups first and exits afterwards.
"""

from __future__ import annotations

import json
import os
import select
import signal
import time
from collections.abc import Callable
from typing import Any

from printbridge.gateway.accounts import Account
from printbridge.gateway.errors import Failure

# Longer than any single CUPS request (a local request answers in well under a
# second; a large upload takes a few) and shorter than the app's wait for the
# gateway (90 s), which is shorter than nginx's for the app (120 s): whoever gives
# up first is the one that can still explain it to the user.
CHILD_TIMEOUT = 60
MAX_REPLY = 16 * 1024 * 1024


def drop_privileges(account: Account) -> None:
    """Become the user for good: supplementary groups first, then gid, then uid."""
    os.initgroups(account.name, account.gid)
    os.setgid(account.gid)
    os.setuid(account.uid)
    if os.geteuid() == 0 or os.getegid() == 0 or 0 in os.getgroups():
        os._exit(70)  # never run an operation with any root privilege left


def run_as(account: Account, operation: Callable[..., Any], *args: Any) -> Any:
    """Fork, drop to the account, run operation(*args) and return what it returned (JSON-able)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no return from here, only os._exit
        os.close(read_end)
        status = 0
        try:
            drop_privileges(account)
            reply: dict[str, Any] = {"ok": True, "result": operation(*args)}
        except Failure as failure:
            reply = failure.reply()
        except BaseException as error:  # anything unexpected still gets an answer
            reply = {"ok": False, "error": "internal", "message": f"Internal error: {type(error).__name__}"}
            status = 1
        try:
            data = json.dumps(reply).encode()
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(data)
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        data = read_all(read_end, time.monotonic() + CHILD_TIMEOUT)
    except Failure:
        os.kill(pid, signal.SIGKILL)
        raise
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    if not data:
        raise Failure("internal", "The operation ended without an answer.")
    reply = json.loads(data)
    if not reply["ok"]:
        raise Failure(reply["error"], reply["message"])
    return reply["result"]


def read_all(fd: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise Failure("timeout", "CUPS did not answer in time.")
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_REPLY:
            raise Failure("internal", "The answer from CUPS was too large.")
        chunks.append(chunk)
