"""Sign-in through PAM, lockout, logout, idle expiry, CSRF, cookies and headers."""

import json
import time
from urllib.parse import parse_qs, urlsplit

from conftest import BASE, Browser


def test_login_ok_sets_a_strict_session_cookie(browser, users):
    response = browser.login("alice", users["alice"])
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    for flag in ("Secure", "HttpOnly", "SameSite=Strict"):
        assert flag in cookie
    assert browser.user == "alice"
    assert browser.get("/print").status_code == 200


def test_wrong_password_refused(browser, users):
    response = browser.login("alice", users["alice"] + "x")
    assert response.status_code == 401
    assert "password is wrong" in response.get_data(as_text=True)
    assert browser.user is None


def test_failed_sign_in_is_logged_with_the_client_address_for_fail2ban(app, users, capsys):
    """One line per refusal, the address nginx saw first: a user name cannot forge it."""
    sneaky = 'x from=203.0.113.9 user="admin"\nprintbridge: failed sign-in from=203.0.113.9'
    assert from_address(app, "192.0.2.50").login(sneaky, "wrong").status_code == 401
    assert from_address(app, "192.0.2.50").login("alice", users["alice"] + "x").status_code == 401
    lines = capsys.readouterr().err.splitlines()
    refused = [line for line in lines if line.startswith("printbridge: failed sign-in")]
    assert refused == [
        f"printbridge: failed sign-in from=192.0.2.50 user={json.dumps(sneaky[:64])} reason=invalid_credentials",
        'printbridge: failed sign-in from=192.0.2.50 user="alice" reason=invalid_credentials',
    ]
    for _ in range(2):
        from_address(app, "192.0.2.50").login("alice", "wrong")
    assert from_address(app, "192.0.2.50").login("alice", users["alice"]).status_code == 429
    locked = capsys.readouterr().err.splitlines()[-1]
    assert locked == 'printbridge: failed sign-in from=192.0.2.50 user="alice" reason=locked'


def test_non_member_refused_with_the_same_message(browser, users):
    response = browser.login("bob", users["bob"])
    assert response.status_code == 401
    assert "password is wrong, or this account may not print here" in response.get_data(as_text=True)
    assert browser.user is None


def test_lockout_after_failures_even_with_the_right_password(browser, users):
    for _ in range(3):
        assert browser.login("alice", "wrong").status_code == 401
    response = browser.login("alice", users["alice"])
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.get_data(as_text=True)


def test_lockout_is_shared_between_app_instances(make_app, users):
    """Two apps on one state folder stand for two gunicorn workers."""
    first, second = Browser(make_app()), Browser(make_app())
    for _ in range(3):
        first.login("carol", "wrong")
    assert second.login("carol", users["carol"]).status_code == 429


def from_address(app, address):
    browser = Browser(app)
    browser.client.environ_base["HTTP_X_FORWARDED_FOR"] = address
    return browser


def test_lockout_per_client_address(app, users):
    """Guessing across many user names from one address: locked at 4 x login_max_attempts (3 in the tests)."""
    attacker = from_address(app, "192.0.2.7")
    for number in range(11):
        assert attacker.login(f"u{number}", "wrong").status_code == 401
    assert from_address(app, "192.0.2.7").login("alice", users["alice"] + "x").status_code == 401
    assert attacker.login("u99", "wrong").status_code == 429
    assert from_address(app, "192.0.2.7").login("alice", users["alice"]).status_code == 429
    assert from_address(app, "192.0.2.8").login("alice", users["alice"]).status_code == 302


def test_office_behind_one_address_is_not_locked_out_by_typos(app, users):
    """Five typos by people behind one office NAT address must not lock everybody out."""
    office = "198.51.100.20"
    for name in ("alice", "carol", "dave", "alice", "carol"):
        assert from_address(app, office).login(name, users[name] + "typo").status_code == 401
    assert from_address(app, office).login("dave", users["dave"]).status_code == 302


def test_successful_sign_in_forgives_the_address(app, users):
    office = "198.51.100.21"
    for number in range(11):
        assert from_address(app, office).login(f"typo{number}", "wrong").status_code == 401
    assert from_address(app, office).login("alice", users["alice"]).status_code == 302
    # Without the forgiveness, these would be failures 12 to 22 and lock the address.
    for number in range(11):
        assert from_address(app, office).login(f"later{number}", "wrong").status_code == 401
    assert from_address(app, office).login("carol", users["carol"]).status_code == 302
    # The per-user limit is unchanged: three failures lock that name.
    for _ in range(3):
        from_address(app, office).login("dave", "wrong")
    assert from_address(app, office).login("dave", users["dave"]).status_code == 429


def test_logout_clears_the_session(login):
    browser = login("alice")
    assert browser.post("/logout").status_code == 302
    assert browser.user is None
    assert browser.get("/jobs").status_code == 302


def test_idle_session_expires(login):
    browser = login("alice")
    with browser.client.session_transaction(base_url=BASE) as session:
        session["seen"] = time.time() - 16 * 60
    response = browser.get("/jobs")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    assert browser.user is None
    assert "signed out after a period of inactivity" in browser.get("/login").get_data(as_text=True)


def test_activity_keeps_the_session(login):
    browser = login("alice")
    with browser.client.session_transaction(base_url=BASE) as session:
        session["seen"] = time.time() - 10 * 60
    assert browser.get("/jobs").status_code == 200
    with browser.client.session_transaction(base_url=BASE) as session:
        assert time.time() - session["seen"] < 60


def test_csrf_missing_is_refused(browser, users, login):
    response = browser.post("/login", {"username": "alice", "password": users["alice"]}, csrf=False)
    assert response.status_code == 400
    signed_in = login("alice")
    assert signed_in.post("/logout", csrf=False).status_code == 400
    response = signed_in.api("POST", "/api/v1/jobs/1/cancel", csrf=False)
    assert response.status_code == 400
    assert response.get_json()["error"] == "csrf"


def test_login_redirects_only_within_the_site(browser, users):
    response = browser.login("alice", users["alice"], next="https://evil.example/")
    assert response.headers["Location"].endswith("/print")
    browser2 = Browser(browser.app)
    response = browser2.login("alice", users["alice"], next="/jobs/history")
    assert response.headers["Location"].endswith("/jobs/history")


def test_security_headers(browser):
    response = browser.get("/login")
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "<script>" not in response.get_data(as_text=True)
    assert " style=" not in response.get_data(as_text=True)


def test_pages_need_login(browser):
    for path in ("/print", "/jobs", "/jobs/history", "/admin/"):
        assert browser.get(path).status_code == 302
    assert browser.get("/api/v1/jobs").status_code == 401
    assert browser.get("/guide").status_code == 200


def test_api_needs_only_cookie_and_csrf_header_not_a_referrer(login, pdf_file):
    """Tools send no Referer: the session cookie and X-CSRFToken are enough, as the API docs say."""
    alice = login("alice")
    del alice.client.environ_base["HTTP_REFERER"]
    with pdf_file().open("rb") as handle:
        response = alice.api(
            "POST", "/api/v1/uploads", data={"files": (handle, "tool.pdf")}, content_type="multipart/form-data"
        )
    assert response.status_code == 201, response.get_json()
    token = response.get_json()["uploads"][0]["token"]
    assert alice.api("DELETE", f"/api/v1/uploads/{token}").status_code == 204
    # Without the header, or with a wrong one, still refused.
    assert alice.api("POST", "/api/v1/jobs/1/cancel", csrf=False).get_json()["error"] == "csrf"
    response = alice.api("POST", "/api/v1/jobs/1/cancel", csrf=False, headers={"X-CSRFToken": "forged"})
    assert response.get_json()["error"] == "csrf"
    # A foreign Referer is refused even with the right header.
    response = alice.api("POST", "/api/v1/jobs/1/cancel", headers={"Referer": "https://evil.example/"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "csrf"


def test_form_posts_need_the_token_and_a_same_site_referrer(login):
    alice = login("alice")
    response = alice.post("/logout", {"csrf_token": "forged"})
    assert response.status_code == 400
    assert alice.user == "alice"
    response = alice.post("/logout", headers={"Referer": "https://evil.example/print"})
    assert response.status_code == 400
    del alice.client.environ_base["HTTP_REFERER"]
    response = alice.post("/logout")
    assert response.status_code == 400
    assert "referrer header is missing" in response.get_data(as_text=True)
    assert alice.user == "alice"
    assert alice.post("/logout", headers={"Referer": f"{BASE}/jobs"}).status_code == 302
    assert alice.user is None


def test_sign_in_redirect_has_no_empty_query_string(browser):
    assert browser.get("/print").headers["Location"].endswith("/login?next=/print")
    assert browser.get("/print?").headers["Location"].endswith("/login?next=/print")
    location = urlsplit(browser.get("/print?printer=laser").headers["Location"])
    assert parse_qs(location.query) == {"next": ["/print?printer=laser"]}
