"""HTTP client of the web app as an office PC: run inside the office network namespace.

    ip netns exec pb-office python webclient.py https://ADDRESS < request.json

The request (JSON on standard input, so passwords stay off the command line):
    {"login": {"user": "alice", "password": "..."} | null,
     "requests": [{"method": "POST", "path": "/api/v1/jobs", "csrf": true, "json": {...}}, ...]}
prints {"session": {"cookie": ..., "csrf": ...} | null, "responses": [{"status", "content_type", "location",
"json" (or null), "text" (the first 300 characters)}, ...]}.

A login goes through the sign-in form with its CSRF token, like a browser. "csrf": true sends the
session's CSRF token in the X-CSRFToken header."""

import json
import re
import sys

import requests
import urllib3

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # the lab's self-signed certificate
COOKIE = "printbridge_session"


def login(http: requests.Session, base: str, user: str, password: str) -> dict:
    form = http.get(f"{base}/login", timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if token is None:
        raise SystemExit(f"no CSRF token in the sign-in form (HTTP {form.status_code})")
    answer = http.post(
        f"{base}/login",
        data={"csrf_token": token.group(1), "username": user, "password": password, "next": ""},
        allow_redirects=False,
        timeout=60,
    )
    if answer.status_code != 302:
        raise SystemExit(f"sign-in as {user} failed: HTTP {answer.status_code}")
    me = http.get(f"{base}/api/v1/me", timeout=30)
    me.raise_for_status()
    return {"cookie": http.cookies.get(COOKIE), "csrf": me.json()["csrf_token"], "user": me.json()["user"]}


def main() -> None:
    base = sys.argv[1].rstrip("/")
    spec = json.load(sys.stdin)
    http = requests.Session()
    http.verify = False
    session = login(http, base, spec["login"]["user"], spec["login"]["password"]) if spec.get("login") else None
    responses = []
    for item in spec.get("requests", []):
        headers = dict(item.get("headers", {}))
        if item.get("csrf") and session:
            headers["X-CSRFToken"] = session["csrf"]
        answer = http.request(
            item["method"],
            base + item["path"],
            headers=headers,
            json=item.get("json"),
            data=item.get("data"),
            allow_redirects=False,
            timeout=60,
        )
        try:
            body = answer.json()
        except ValueError:
            body = None
        responses.append(
            {
                "method": item["method"],
                "path": item["path"],
                "status": answer.status_code,
                "content_type": answer.headers.get("Content-Type", ""),
                "location": answer.headers.get("Location", ""),
                "json": body,
                "text": answer.text[:300],
            }
        )
    json.dump({"session": session, "responses": responses}, sys.stdout)


if __name__ == "__main__":
    main()
