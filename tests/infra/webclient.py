"""HTTP client of the web app as an office PC: run inside the office network namespace.

    ip netns exec pb-office python webclient.py https://ADDRESS < request.json

The request (JSON on standard input, so passwords stay off the command line):
    {"login": {"user": "alice", "password": "..."} | null,
     "requests": [{"method": "POST", "path": "/api/v1/jobs", "csrf": true, "json": {...}}, ...]}
A request's "files": [PATH, ...] uploads those files as the multipart field "files"; the value "$upload" in a
later request's path or JSON body stands for the token of the latest upload.
prints {"session": {"cookie": ..., "csrf": ..., "user": ...}, "responses": [{"status", "content_type", "location",
"json" (or null), "text" (the first 300 characters)}, ...]}.

A login goes through the sign-in form with its CSRF token, like a browser. "csrf": true sends the
session's CSRF token (without a login, the anonymous session's) in the X-CSRFToken header. Requests send
Referer: ADDRESS/ as a browser on the site does; "headers": {"Referer": null} leaves it out."""

import json
import re
import sys
from pathlib import Path

import requests
import urllib3

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # the lab's self-signed certificate
COOKIE = "printbridge_session"


def form_token(http: requests.Session, base: str) -> str:
    form = http.get(f"{base}/login", timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if token is None:
        raise SystemExit(f"no CSRF token in the sign-in form (HTTP {form.status_code})")
    return token.group(1)


def login(http: requests.Session, base: str, user: str, password: str) -> dict:
    answer = http.post(
        f"{base}/login",
        data={"csrf_token": form_token(http, base), "username": user, "password": password, "next": ""},
        headers={"Referer": f"{base}/login"},
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
    http.trust_env = False  # no proxies or CA bundle from the environment: the lab only, self-signed
    if spec.get("login"):
        session = login(http, base, spec["login"]["user"], spec["login"]["password"])
    else:
        # Not signed in: the anonymous session's CSRF token from the sign-in form, for requests that send one.
        session = {"cookie": None, "csrf": form_token(http, base), "user": None}
    responses = []
    upload = None  # the token of the latest upload, for "$upload" in a later request's path or JSON
    for item in spec.get("requests", []):
        if upload and isinstance(item.get("json"), dict):
            item["json"] = {key: upload if value == "$upload" else value for key, value in item["json"].items()}
        if upload:
            item["path"] = item["path"].replace("$upload", upload)
        # Like a browser on this site (Referrer-Policy: same-origin), unless the request says otherwise.
        headers = {"Referer": f"{base}/", **item.get("headers", {})}
        headers = {name: value for name, value in headers.items() if value is not None}
        if item.get("csrf"):
            headers["X-CSRFToken"] = session["csrf"]
        answer = http.request(
            item["method"],
            base + item["path"],
            headers=headers,
            json=item.get("json"),
            data=item.get("data"),
            # Uploads: local file paths sent as the multipart field "files", like the upload form.
            files=[("files", (Path(f).name, Path(f).read_bytes(), "application/pdf")) for f in item.get("files", [])]
            or None,
            allow_redirects=False,
            timeout=60,
        )
        try:
            body = answer.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("uploads"):
            upload = body["uploads"][0]["token"]
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
