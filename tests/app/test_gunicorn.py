"""The app under real gunicorn with gthread workers, as deployed (the role runs it behind nginx)."""

import http.client
import os
import re
import secrets
import subprocess
import sys
import urllib.parse

import pytest
from conftest import SRC, port_open, wait_for, write_config

PORT = 8765
# gunicorn's and the gateway's logs, shown when a request gets no answer.
LOGS: list = []


@pytest.fixture
def server(tmp_path, gateway, spool_dir):
    """Two workers (as one appliance never has) so the lockout is seen to hold across processes."""
    secret = tmp_path / "secret_key"
    secret.write_text(secrets.token_hex(32))
    config = write_config(
        tmp_path / "web.toml",
        gateway_socket=str(gateway.socket),
        secret_key_file=str(secret),
        spool_dir=str(spool_dir),
        state_dir=str(tmp_path),
        login_max_attempts=2,
    )
    env = {**os.environ, "PRINTBRIDGE_CONFIG": str(config), "PYTHONPATH": str(SRC)}
    command = [sys.executable, "-m", "gunicorn", "-w", "2", "--worker-class", "gthread", "--threads", "4"]
    command += ["--timeout", "120", "-b", f"127.0.0.1:{PORT}", "printbridge.app:create_app()"]
    log = tmp_path / "gunicorn.log"
    with log.open("w") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    LOGS[:] = [log, gateway.log]
    try:
        wait_for(lambda: port_open(PORT), what="gunicorn")
        yield
    finally:
        process.terminate()
        process.wait(timeout=20)


def request(method, path, body=None, cookie="", forwarded="10.1.2.3"):
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    headers = {"X-Forwarded-For": forwarded, "Cookie": cookie}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        body = urllib.parse.urlencode(body)
    conn.request(method, path, body=body, headers=headers)
    try:
        response = conn.getresponse()
    except OSError as error:
        logs = "\n".join(f"--- {log}\n{log.read_text()[-3000:]}" for log in LOGS)
        raise AssertionError(f"{method} {path}: no answer ({error})\n{logs}") from error
    return response, response.read().decode()


def login_form():
    response, page = request("GET", "/login")
    cookie = response.getheader("Set-Cookie").split(";", 1)[0]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return cookie, token


def test_health_and_login_through_gunicorn(server, users):
    response, body = request("GET", "/healthz")
    assert response.status == 200
    assert '"cupsd":"ok"' in body.replace(" ", "")
    cookie, token = login_form()
    response, _ = request(
        "POST", "/login", {"username": "alice", "password": users["alice"], "csrf_token": token}, cookie
    )
    assert response.status == 302
    session = response.getheader("Set-Cookie")
    assert "Secure" in session and "HttpOnly" in session and "SameSite=Strict" in session
    response, page = request("GET", "/jobs", cookie=session.split(";", 1)[0])
    assert response.status == 200
    assert "My jobs" in page


def test_lockout_across_workers(server, users):
    """Each attempt on a fresh connection, so both workers see failures; the lockout holds everywhere."""
    for _ in range(2):
        cookie, token = login_form()
        request("POST", "/login", {"username": "dave", "password": "wrong", "csrf_token": token}, cookie, "10.9.9.9")
    for _ in range(4):
        cookie, token = login_form()
        response, _ = request(
            "POST", "/login", {"username": "dave", "password": users["dave"], "csrf_token": token}, cookie, "10.9.9.8"
        )
        assert response.status == 429
