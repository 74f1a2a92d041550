"""The JSON API and its OpenAPI document."""

import re

from conftest import PARKED, QUEUE, upload, wait_job


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.removeprefix("/api/v1"))


def test_openapi_lists_every_api_route(app, browser):
    document = browser.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    routes = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            methods = {m.lower() for m in rule.methods - {"HEAD", "OPTIONS"}}
            routes.setdefault(openapi_path(rule.rule), set()).update(methods)
    documented = {path: set(ops) for path, ops in document["paths"].items()}
    assert routes == documented


def test_me_gives_the_csrf_token(login):
    me = login("carol").api("GET", "/api/v1/me").get_json()
    assert me["user"] == "carol"
    assert me["is_admin"] is True
    assert me["csrf_token"]


def test_upload_print_and_follow(login, gateway, pdf_file, clean_queues):
    alice = login("alice")
    response = upload(alice, pdf_file(pages=2, name="api.pdf"), api=True)
    assert response.status_code == 201
    (stored,) = response.get_json()["uploads"]
    assert stored["pages"] == 2
    assert alice.api("GET", "/api/v1/uploads").get_json()[0]["token"] == stored["token"]
    response = alice.api(
        "POST", "/api/v1/jobs", json={"upload": stored["token"], "printer": PARKED, "options": {"copies": "3"}}
    )
    assert response.status_code == 201
    job_id = response.get_json()["job_id"]
    (job,) = [j for j in alice.api("GET", "/api/v1/jobs").get_json() if j["id"] == job_id]
    assert job["title"] == "api.pdf"
    assert job["copies"] == 3
    assert alice.api("POST", f"/api/v1/jobs/{job_id}/hold").status_code == 200
    wait_job(gateway, "alice", job_id, ("held",))
    assert alice.api("POST", f"/api/v1/jobs/{job_id}/cancel").status_code == 200


def test_api_errors_are_json_in_plain_words(login, pdf_file):
    alice = login("alice")
    response = upload(alice, pdf_file(encrypt=True), api=True)
    assert response.status_code == 400
    assert "protected with a password" in response.get_json()["message"]
    response = alice.api("POST", "/api/v1/jobs", json={"upload": "0" * 32, "printer": QUEUE})
    assert response.status_code == 404
    response = alice.api("POST", "/api/v1/jobs/999999/cancel")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"
    assert alice.api("GET", "/api/v1/jobs?which=everything").status_code == 400


def test_printers_api(login):
    printers = login("alice").api("GET", "/api/v1/printers").get_json()
    laser = next(p for p in printers if p["name"] == QUEUE)
    assert laser["message"] == "Ready"
    assert laser["capabilities"]["max_copies"] > 1


def test_upload_with_nameless_or_unreadable_field_is_a_clean_400(login):
    """schemathesis: a multipart part without a usable name crashed Flask-WTF's CSRF check (500)."""
    alice = login("alice")
    for disposition in (b"", b'name=""; ', b'name="\xff\xfe"; '):
        for filename in (b'filename="a.pdf"', b""):
            part = b"form-data; " + disposition + filename
            body = b"--B\r\nContent-Disposition: " + part.rstrip(b"; ") + b"\r\n\r\n%PDF-1.4\r\n--B--\r\n"
            response = alice.api("POST", "/api/v1/uploads", data=body, content_type="multipart/form-data; boundary=B")
            assert response.status_code == 400, (part, response.get_data(as_text=True))
            assert response.is_json and response.get_json()["error"] in ("bad_request", "upload")


def test_job_ids_beyond_cups_range_are_no_such_job(login):
    """913023033967 overflowed pycups's int (500 "OverflowError"); CUPS job ids are 32-bit."""
    carol = login("carol")
    for job_id in (913023033967, 2**31, 10**30):
        for action in ("hold", "cancel", "release", "reprint"):
            response = carol.api("POST", f"/api/v1/jobs/{job_id}/{action}")
            assert response.status_code == 404, response.get_json()
            assert response.get_json()["error"] == "not_found"
        for path in (f"/api/v1/admin/jobs/{job_id}/purge", f"/api/v1/admin/jobs/{job_id}/move"):
            response = carol.api("POST", path, json={"printer": QUEUE})
            assert response.status_code == 404, response.get_json()
        assert carol.post(f"/jobs/{job_id}/cancel").status_code == 303
    document = carol.get("/api/v1/openapi.json").get_json()
    for path, item in document["paths"].items():
        for parameter in item["post"].get("parameters", []) if "{job_id}" in path else []:
            assert parameter["schema"] == {"type": "integer", "minimum": 1, "maximum": 2147483647}
