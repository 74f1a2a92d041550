"""The JSON API (/api/v1) from the office PC: its OpenAPI document fuzzed with schemathesis, CSRF and 401 refusals.

Every request comes from the office network namespace (webclient.py, and schemathesis's CLI run there)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import OFFICE_NAMESPACE

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# Path parameters for the plain checks: nothing that exists, so that a check which wrongly got
# through could not change the lab (no job 999999, no such printer, no such upload).
PARAMETERS = {"job_id": "999999", "name": "no-such-printer", "token": "no-such-upload"}
UNSAFE = ("post", "put", "patch", "delete")


@pytest.fixture
def operations(web):
    """(method, path under /api/v1) of every operation the OpenAPI document lists."""
    answer = web([{"method": "GET", "path": "/api/v1/openapi.json"}])["responses"][0]
    assert answer["status"] == 200 and answer["json"]["openapi"].startswith("3.1"), answer
    found = [
        (method.upper(), re.sub(r"\{(\w+)\}", lambda m: PARAMETERS[m.group(1)], path))
        for path, item in answer["json"]["paths"].items()
        for method in item
        if method in ("get", *UNSAFE)
    ]
    assert len(found) >= 15, found
    return found


def assert_json_refusal(answer, status, error):
    assert answer["status"] == status, answer
    assert answer["content_type"].startswith("application/json"), answer
    assert answer["json"] and answer["json"]["error"] == error and answer["json"]["message"], answer


def test_unauthenticated_api_calls_get_401_json(web, operations):
    """Not signed in: 401 with a JSON error, never the HTML sign-in page or a redirect to it. Unsafe calls
    carry the anonymous session's CSRF token, so that it is the missing sign-in they are refused for."""
    calls = [
        {"method": method, "path": f"/api/v1{path}", "csrf": method != "GET", "json": {}}
        for method, path in operations
        if path != "/openapi.json"
    ]
    for answer in web(calls)["responses"]:
        assert_json_refusal(answer, 401, "unauthenticated")
        assert not answer["location"], answer


def test_unsafe_api_calls_without_the_csrf_token_are_refused(web, operations):
    """Signed in (as an administrator, so that nothing but the token is missing): every POST/DELETE
    without X-CSRFToken, or with a wrong one, is refused with 400 before it does anything."""
    unsafe = [(method, f"/api/v1{path}") for method, path in operations if method.lower() in UNSAFE]
    assert {"POST", "DELETE"} <= {method for method, _ in unsafe}
    calls = [{"method": method, "path": path, "json": {}} for method, path in unsafe]
    calls += [
        {"method": method, "path": path, "json": {}, "headers": {"X-CSRFToken": "forged"}} for method, path in unsafe
    ]
    # The same session with its token gets past the check (404 or 400 for the made-up names, not csrf).
    calls.append({"method": "DELETE", "path": "/api/v1/uploads/no-such-upload", "csrf": True})
    answers = web(calls, user="carol")["responses"]
    for answer in answers[:-1]:
        assert_json_refusal(answer, 400, "csrf")
    assert answers[-1]["status"] in (204, 404) and (answers[-1]["json"] or {}).get("error") != "csrf", answers[-1]


def test_api_needs_only_the_session_cookie_and_the_csrf_header(web):
    """What the API and its OpenAPI document promise tools: the session cookie and X-CSRFToken, nothing
    else (a tool sends no Referer; browsers do, so the pages cannot show the difference)."""
    calls = [{"method": "DELETE", "path": "/api/v1/uploads/no-such-upload", "csrf": True, "headers": {"Referer": None}}]
    answer = web(calls, user="alice")["responses"][0]
    assert answer["status"] in (204, 404) and (answer["json"] or {}).get("error") != "csrf", answer


# What schemathesis may call, and as whom. Left out, because they would change what the other
# tests (and the other host's run, on the same lab printer) rely on:
#   POST /jobs/{job_id}/reprint: prints alice's old jobs again on the shared lab printer;
#   POST /admin/jobs/{job_id}/purge and /move: as an administrator they hit any user's jobs;
#   POST /admin/printers/{name}/pause and /reject: a generated name can be a real queue, left stopped.
# The plain tests above still send every one of them (CSRF and 401 refusals).
FUZZ_RUNS = {
    "alice": ["--exclude-path-regex", r"^/admin/|/reprint$"],
    "carol": ["--include-path-regex", r"^/admin/(watchdog|printers/\{name\}/(resume|accept))$"],
}


# Bounded so that the API adds under two minutes per host.
FUZZ_SECONDS = {"alice": 60, "carol": 20}


@pytest.mark.default_only
@pytest.mark.parametrize("user", sorted(FUZZ_RUNS))
def test_api_answers_conform_to_its_openapi_document(web, site, user, artifacts, hostvars):
    """schemathesis, from the office PC, signed in: no 5xx, and every answer matches the document."""
    session = web([], user=user)["session"]
    reports = artifacts / "schemathesis" / hostvars["inventory_hostname"] / user
    reports.mkdir(parents=True, exist_ok=True)
    command = [
        *("ip", "netns", "exec", OFFICE_NAMESPACE, str(SCHEMATHESIS), "run", f"{site}/api/v1/openapi.json"),
        *("--url", f"{site}/api/v1", "--tls-verify", "false"),
        *("--header", f"Cookie: printbridge_session={session['cookie']}"),
        *("--header", f"X-CSRFToken: {session['csrf']}"),
        # Flask-WTF wants a same-site Referer over HTTPS,
        # see test_api_needs_only_the_session_cookie_and_the_csrf_header.
        # Sent here, so that the fuzzing reaches the operations behind the CSRF check.
        *("--header", f"Referer: {site}/"),
        "--generation-with-security-parameters=false",
        *("--checks", "not_a_server_error,response_schema_conformance,content_type_conformance"),
        *("--phases", "examples,coverage,fuzzing"),
        *("--max-examples", "20", "--max-time", str(FUZZ_SECONDS[user]), "--workers", "2", "--request-timeout", "30"),
        *("--seed", "2213", "--no-color", "--report", "junit", "--report-dir", str(reports)),
        *FUZZ_RUNS[user],
    ]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
        cwd=reports,  # its replay cache of failures stays with the reports
    )
    (reports / "output.txt").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    tested = re.search(r"Tested: (\d+)", result.stdout)
    assert tested and int(tested.group(1)) >= (3 if user == "carol" else 8), result.stdout[-3000:]
