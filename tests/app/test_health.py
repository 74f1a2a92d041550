"""/healthz: 200 with the printers while cupsd runs, 503 when it does not; no sign-in, no user data."""

import subprocess

from conftest import QUEUE, restart_cups


def test_healthy(browser):
    response = browser.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["app"] == "ok"
    assert body["cupsd"] == "ok"
    assert {"name": QUEUE, "state": "idle", "accepting": True, "message": "Ready"} in body["printers"]
    assert "alice" not in response.get_data(as_text=True)


def test_cupsd_down_is_503(browser):
    subprocess.run(["systemctl", "stop", "cups.socket", "cups.service", "cups.path"], check=True)
    try:
        response = browser.get("/healthz")
        assert response.status_code == 503
        assert response.get_json()["cupsd"] == "unreachable"
        assert response.get_json()["app"] == "ok"
    finally:
        subprocess.run(["systemctl", "start", "cups.socket", "cups.path"], check=True)
        restart_cups()
    assert browser.get("/healthz").status_code == 200


def test_gateway_down_is_503(make_app, tmp_path):
    from conftest import Browser

    response = Browser(make_app(gateway_socket=str(tmp_path / "nothing.sock"))).get("/healthz")
    assert response.status_code == 503
