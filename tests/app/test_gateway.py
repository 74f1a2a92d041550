"""The gateway on its own: PAM, group checks, CUPS deciding as the user, request hygiene."""

import json
import select
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PARKED, QUEUE, SRC, wait_for, write_config

from printbridge.gateway_client import Gateway, GatewayError


def test_authenticate(gateway, users):
    result = gateway.call("authenticate", user="carol", password=users["carol"])
    assert result["user"] == "carol"
    assert result["is_admin"] is True
    assert "pbprintadmin" in result["groups"]


@pytest.mark.parametrize(
    ("user", "password"),
    [("alice", "wrong"), ("bob", None), ("root", "x"), ("nosuchuser", "x"), ("alice", ""), ("-alice", "x")],
)
def test_authenticate_refusals_look_the_same(gateway, users, user, password):
    with pytest.raises(GatewayError) as refused:
        gateway.call("authenticate", user=user, password=users.get(user, "x") if password is None else password)
    assert refused.value.code == "invalid_credentials"
    assert refused.value.message == "The user name or password is wrong, or this account may not print here."


def test_socket_activated_gateway_exits_when_idle(tmp_path, spool_dir, users):
    # As systemd runs it: the listening socket is handed over, and after --idle-exit
    # seconds without a request the gateway gives its memory back (systemd keeps the socket).
    listening = tmp_path / "activated.sock"
    config = write_config(tmp_path / "gateway.toml", spool_dir=str(spool_dir))
    # systemd-socket-activate passes no environment but what -E names.
    command = ["systemd-socket-activate", "--listen", str(listening), "-E", f"PYTHONPATH={SRC}"]
    command += [sys.executable, "-m", "printbridge.gateway", "--config", str(config), "--idle-exit", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(listening.exists, what="the activation socket")
        assert Gateway(str(listening)).call("authenticate", user="carol", password=users["carol"])["user"] == "carol"
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
    assert "idle for 2s, exiting until the next request" in process.stdout.read()


def test_users_outside_the_groups_get_nothing(gateway):
    for user in ("bob", "root", "lp", "nobody"):
        with pytest.raises(GatewayError) as refused:
            gateway.call("printers", user=user)
        assert refused.value.code == "not_allowed"


def test_printers_in_plain_words_with_capabilities(gateway):
    printers = {p["name"]: p for p in gateway.call("printers", user="alice")}
    laser, parked = printers[QUEUE], printers[PARKED]
    assert laser["state"] == "idle"
    assert laser["message"] == "Ready"
    assert parked["state"] == "stopped"
    caps = laser["capabilities"]
    assert "two-sided-long-edge" in caps["sides"]
    assert "iso_a4_210x297mm" in caps["media"]
    assert caps["max_copies"] > 1


def test_cups_decides_printer_control(gateway, clean_queues):
    with pytest.raises(GatewayError) as refused:
        gateway.call("printer_control", user="alice", printer=QUEUE, action="pause")
    assert refused.value.code == "forbidden"
    assert refused.value.message == "You are not allowed to pause this printer."


def test_admin_only_operations(gateway):
    for op, fields in (("purge", {"job_id": 1}), ("watchdog_log", {})):
        with pytest.raises(GatewayError) as refused:
            gateway.call(op, user="alice", **fields)
        assert refused.value.code == "forbidden"


def test_submit_only_from_the_spool_folder(gateway, tmp_path):
    outside = tmp_path / "x.pdf"
    outside.write_bytes(b"%PDF-1.4")
    for path in (str(outside), "/etc/shadow", "relative.pdf", f"{gateway.config.parent}/../../etc/passwd"):
        with pytest.raises(GatewayError) as refused:
            gateway.call("submit", user="alice", printer=QUEUE, path=path, title="x")
        assert refused.value.code in ("bad_request", "not_found")


def test_options_are_whitelisted(gateway, spool_dir):
    with pytest.raises(GatewayError) as refused:
        gateway.call(
            "submit", user="alice", printer=QUEUE, path=str(spool_dir / "x.pdf"), title="x", options={"job-sheets": "x"}
        )
    assert refused.value.code == "bad_request"


def raw_request(gateway, data: bytes) -> dict:
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(30)
        conn.connect(str(gateway.socket))
        conn.sendall(data)
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk
    return json.loads(reply)


def test_bad_requests(gateway):
    assert raw_request(gateway, b"not json\n")["error"] == "bad_request"
    assert raw_request(gateway, b'{"op": "format_disk"}\n')["error"] == "bad_request"
    assert raw_request(gateway, b'{"op": "jobs", "user": "alice", "which": "x"}\n')["error"] == "bad_request"
    assert raw_request(gateway, b"x" * 70000)["error"] == "too_large"


def test_log_names_user_and_operation_but_no_password(gateway, users):
    gateway.call("authenticate", user="alice", password=users["alice"])
    log = gateway.log.read_text()
    assert "op=authenticate user=alice outcome=ok" in log
    assert users["alice"] not in log


def test_a_silent_client_delays_no_one(gateway, users):
    """Each connection is answered by its own process: one that sends nothing (it is
    dropped after the read timeout) does not hold up another's request meanwhile."""
    with socket.socket(socket.AF_UNIX) as silent:
        silent.connect(str(gateway.socket))
        assert gateway.call("authenticate", user="alice", password=users["alice"])["user"] == "alice"
        assert select.select([silent], [], [], 0)[0] == [], "the silent client was already dropped"
        # Never a second thread: every operation forks, and a fork beside another thread can deadlock.
        status = Path(f"/proc/{gateway.process.pid}/status").read_text()
        assert "\nThreads:\t1\n" in status
