"""The gateway's socket: one JSON request per connection, one JSON reply, a process per connection."""

from __future__ import annotations

import grp
import json
import logging
import os
import socket
from pathlib import Path
from typing import Any

from printbridge.gateway.errors import Failure
from printbridge.gateway.handlers import Handlers

log = logging.getLogger("printbridge.gateway")

MAX_REQUEST = 64 * 1024
# A client has this long to send its request; the reply may take longer (a CUPS operation).
READ_TIMEOUT = 10
SYSTEMD_FIRST_FD = 3


def systemd_socket() -> socket.socket | None:
    """The listening socket systemd passed us (socket activation), if any."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()) or int(os.environ.get("LISTEN_FDS", "0")) < 1:
        return None
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)
    return socket.socket(fileno=SYSTEMD_FIRST_FD)


def bind_socket(path: Path, group: str) -> socket.socket:
    """Our own listening socket (tests, or running without systemd): 0660, owned by root and group."""
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        listener.bind(str(path))
    finally:
        os.umask(old_umask)
    os.chown(path, 0, grp.getgrnam(group).gr_gid)
    path.chmod(0o660)
    listener.listen(64)
    return listener


def read_request(conn: socket.socket) -> dict[str, Any]:
    conn.settimeout(READ_TIMEOUT)
    data = b""
    while b"\n" not in data:
        try:
            chunk = conn.recv(65536)
        except TimeoutError:
            raise Failure("timeout", "The request was not sent in time.") from None
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_REQUEST:
            raise Failure("too_large", "The request is too large.")
    try:
        request = json.loads(data.split(b"\n", 1)[0])
    except (ValueError, UnicodeDecodeError):
        raise Failure("bad_request", "The request is not JSON.") from None
    if not isinstance(request, dict) or not isinstance(request.get("op"), str):
        raise Failure("bad_request", "The request names no operation.")
    return request


def describe(request: dict[str, Any]) -> str:
    """What the log line says about the request: never a password or a path."""
    parts = [f"op={request.get('op')}", f"user={request.get('user', '-')}"]
    parts += [f"{key}={request[key]}" for key in ("job_id", "printer", "action", "which") if key in request]
    return " ".join(parts)


class Server:
    """Accepts in one thread and answers each connection in a forked process.

    Every operation forks again (sandbox.run_as), and forking a multi-threaded
    process can leave the child stuck on a lock another thread held; so this
    process never starts a thread, and a slow request delays no other one."""

    def __init__(self, listener: socket.socket, handlers: Handlers) -> None:
        self.listener = listener
        self.handlers = handlers
        self.children: set[int] = set()

    def serve(self, idle_exit: float | None = None) -> None:
        """Answer connections; with *idle_exit*, return after that many seconds without any
        (systemd keeps the socket and starts the gateway again for the next one)."""
        self.listener.settimeout(idle_exit)
        while True:
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                self.reap()
                if not self.children:
                    log.info("idle for %gs, exiting until the next request", idle_exit)
                    return
                continue
            self.reap()
            pid = os.fork()
            if pid == 0:  # the child answers this one connection and exits
                status = 0
                try:
                    self.listener.close()
                    self.reply(conn)
                except BaseException:
                    status = 1
                finally:
                    logging.shutdown()
                    os._exit(status)
            conn.close()
            self.children.add(pid)

    def reap(self) -> None:
        for pid in list(self.children):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                self.children.discard(pid)

    def reply(self, conn: socket.socket) -> None:
        with conn:
            request: dict[str, Any] = {}
            try:
                request = read_request(conn)
                handler = self.handlers.table.get(request["op"])
                if handler is None:
                    raise Failure("bad_request", f"Unknown operation {request['op']!r}.")
                reply: dict[str, Any] = {"ok": True, "result": handler(request)}
                log.info("%s outcome=ok%s", describe(request), job_note(reply["result"]))
            except Failure as failure:
                reply = failure.reply()
                log.info("%s outcome=%s", describe(request), failure.code)
            except Exception:
                log.exception("%s outcome=internal", describe(request))
                reply = {"ok": False, "error": "internal", "message": "Internal error in the print gateway."}
            try:
                conn.settimeout(READ_TIMEOUT)
                conn.sendall(json.dumps(reply).encode() + b"\n")
            except OSError:
                log.info("%s client went away before the reply", describe(request))


def job_note(result: Any) -> str:
    return f" job={result['job_id']}" if isinstance(result, dict) and "job_id" in result else ""
