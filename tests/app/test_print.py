"""Printing: options checked against the printer, jobs complete at the printer as the user."""

import subprocess

import cups
import pytest
from conftest import PARKED, PRINTER_PORT, QUEUE, session_uploads, upload, wait_job

from printbridge.gateway_client import GatewayError


def job_attributes(job_id):
    """What cupsd recorded, asked as root over the local socket (the tests' own view, not the app's).

    The GET first makes the connection authenticated, or cupsd hides the job's private values."""
    conn = cups.Connection()
    conn.getFile("/admin/conf/", "/dev/null")
    return conn.getJobAttributes(job_id)


def test_print_form_offers_the_printers_capabilities(login, pdf_file):
    browser = login("alice")
    upload(browser, pdf_file(pages=2))
    page = browser.get(f"/print?printer={QUEUE}").get_data(as_text=True)
    assert 'value="two-sided-long-edge"' in page
    assert 'value="iso_a4_210x297mm"' in page
    assert "E-mail me when done (alice@office.test)" in page


def test_paper_sizes_have_plain_names_and_the_default_stays_selected(login, pdf_file):
    browser = login("alice")
    upload(browser, pdf_file())
    page = browser.get(f"/print?printer={QUEUE}").get_data(as_text=True)
    assert '<option value="iso_a4_210x297mm"' in page
    assert ">A4</option>" in page and ">Letter</option>" in page
    assert ">na_letter_8.5x11in<" not in page and ">iso_a4_210x297mm<" not in page
    laser = next(p for p in browser.api("GET", "/api/v1/printers").get_json() if p["name"] == QUEUE)
    default = laser["capabilities"]["media_default"]
    assert f'<option value="{default}" selected>' in page


def test_media_names():
    from printbridge.print_options import media_name

    assert media_name("iso_a4_210x297mm") == "A4"
    assert media_name("na_letter_8.5x11in") == "Letter"
    assert media_name("na_legal_8.5x14in") == "Legal"
    assert media_name("iso_a5_148x210mm") == "A5"
    assert media_name("na_executive_7.25x10.5in") == "Executive"
    assert media_name("iso_b5_176x250mm") == "B5"
    assert media_name("iso_a4_210x297mm.Borderless") == "A4 (borderless)"
    assert media_name("na_govt-letter_8x10in") == "Govt letter (8 \u00d7 10 in)"
    assert media_name("custom_min_3x5in") == "3 \u00d7 5 in"
    assert media_name("oddity") == "oddity"


def test_unshared_queue_is_offered_to_admins_only(login, pdf_file, cups_server):
    """A local queue (printer-is-shared false), like reception's, is not for office staff."""
    uri = f"ipp://localhost:{PRINTER_PORT}/ipp/print"
    subprocess.run(
        ["lpadmin", "-p", "front-desk", "-E", "-v", uri, "-m", "everywhere"], check=True, capture_output=True
    )
    subprocess.run(["lpadmin", "-p", "front-desk", "-o", "printer-is-shared=false"], check=True, capture_output=True)
    try:
        alice = login("alice")
        token = upload(alice, pdf_file(), api=True).get_json()["uploads"][0]["token"]
        assert "front-desk" not in alice.get("/print").get_data(as_text=True)
        assert 'data-printer="front-desk"' not in alice.get("/jobs").get_data(as_text=True)
        assert "front-desk" not in [p["name"] for p in alice.api("GET", "/api/v1/printers").get_json()]
        assert QUEUE in [p["name"] for p in alice.api("GET", "/api/v1/printers").get_json()]
        response = alice.api("POST", "/api/v1/jobs", json={"upload": token, "printer": "front-desk"})
        assert response.status_code == 400
        carol = login("carol")
        assert "front-desk" in [p["name"] for p in carol.api("GET", "/api/v1/printers").get_json()]
        assert 'value="front-desk"' in carol.get("/print").get_data(as_text=True)
        assert 'data-printer="front-desk"' in carol.get("/jobs").get_data(as_text=True)
    finally:
        subprocess.run(["lpadmin", "-x", "front-desk"], capture_output=True, check=False)


def test_submit_completes_as_the_user_with_options(login, gateway, pdf_file, spool_dir, clean_queues):
    browser = login("alice")
    upload(browser, pdf_file(pages=3, name="minutes.pdf"))
    (token,) = session_uploads(browser)
    form = {
        "printer": QUEUE,
        "uploads": token,
        "copies": "2",
        "page-ranges": "1-2",
        "sides": "two-sided-long-edge",
        "media": "iso_a4_210x297mm",
    }
    response = browser.post("/print/submit", form)
    assert response.status_code == 302
    page = browser.get("/jobs").get_data(as_text=True)
    assert "“minutes.pdf” was sent to laser as job" in page
    job_id = int(page.split("was sent to laser as job ")[1].split(".")[0])
    assert not (spool_dir / f"{token}.pdf").exists()
    done = wait_job(gateway, "carol", job_id, ("completed",))
    assert done["owner"] == "alice"
    attrs = job_attributes(job_id)
    assert attrs["job-originating-user-name"] == "alice"
    assert attrs["copies"] == 2
    assert attrs["sides"] == "two-sided-long-edge"
    assert attrs["media"] == "iso_a4_210x297mm"
    assert attrs["page-ranges"] in ((1, 2), [(1, 2)])
    history = browser.get("/jobs/history").get_data(as_text=True)
    assert "minutes.pdf" in history


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("copies", "0", "Copies must be a whole number"),
        ("copies", "1000000", "Copies must be a whole number"),
        ("copies", "two", "Copies must be a whole number"),
        ("sides", "three-sided", "is not offered by this printer"),
        ("media", "na_tabloid_fake", "is not offered by this printer"),
        ("print-color-mode", "sepia", "is not offered by this printer"),
        ("page-ranges", "3-1", "outside the document"),
        ("page-ranges", "1-9", "outside the document"),
        ("page-ranges", "1;rm", "Pages must look like"),
    ],
)
def test_invalid_options_refused(login, pdf_file, field, value, message):
    browser = login("alice")
    upload(browser, pdf_file(pages=3))
    (token,) = session_uploads(browser)
    response = browser.post("/print/submit", {"printer": QUEUE, "uploads": token, field: value})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert token in session_uploads(browser)  # nothing was printed, the upload is still there


def test_unknown_printer_refused(login, pdf_file):
    browser = login("alice")
    upload(browser, pdf_file())
    (token,) = session_uploads(browser)
    response = browser.post("/print/submit", {"printer": "nosuch", "uploads": token})
    assert response.status_code == 400
    assert "Choose one of the printers offered" in response.get_data(as_text=True)


def test_email_notification_subscription(login, gateway, pdf_file, clean_queues):
    browser = login("alice")
    upload(browser, pdf_file())
    (token,) = session_uploads(browser)
    browser.post("/print/submit", {"printer": PARKED, "uploads": token, "notify": "yes"})
    (job,) = gateway.call("jobs", user="alice", which="not-completed")
    subscriptions = cups.Connection().getSubscriptions(f"ipp://localhost/jobs/{job['id']}")
    assert any(
        s.get("notify-recipient-uri") == "mailto:alice@office.test"
        and set(s["notify-events"]) == {"job-completed", "job-stopped"}
        for s in subscriptions
    )


def test_no_email_offer_without_mail_domain(make_app, users, pdf_file):
    from conftest import Browser

    browser = Browser(make_app(mail_domain=""))
    browser.login("alice", users["alice"])
    upload(browser, pdf_file())
    assert "E-mail me" not in browser.get("/print").get_data(as_text=True)


def test_not_accepting_printer_message(login, pdf_file, clean_queues):
    import subprocess

    subprocess.run(["cupsreject", QUEUE], check=True)
    browser = login("alice")
    upload(browser, pdf_file())
    (token,) = session_uploads(browser)
    response = browser.post("/print/submit", {"printer": QUEUE, "uploads": token})
    assert response.status_code == 409
    assert "The printer is not accepting jobs." in response.get_data(as_text=True)


def test_hold_until_released_at_submission(login, gateway, pdf_file, clean_queues):
    """'Hold until I release it' in the form, and hold: true in the API: job-hold-until=indefinite."""
    browser = login("alice")
    upload(browser, pdf_file(pages=1, name="held-at-start.pdf"))
    (token,) = session_uploads(browser)
    page = browser.get(f"/print?printer={QUEUE}").get_data(as_text=True)
    assert 'name="hold"' in page and "Hold until I release it" in page
    assert browser.post("/print/submit", {"printer": QUEUE, "uploads": token, "hold": "yes"}).status_code == 302
    page = browser.get("/jobs").get_data(as_text=True)
    assert "It waits until you release it" in page
    job_id = int(page.split("was sent to laser as job ")[1].split(".")[0])
    wait_job(gateway, "alice", job_id, ("held",))
    assert job_attributes(job_id)["job-hold-until"] == "indefinite"
    assert browser.api("POST", f"/api/v1/jobs/{job_id}/release").status_code == 200
    wait_job(gateway, "alice", job_id, ("completed",))

    response = upload(browser, pdf_file(pages=1, name="held-api.pdf"), api=True)
    token = response.get_json()["uploads"][0]["token"]
    response = browser.api("POST", "/api/v1/jobs", json={"upload": token, "printer": QUEUE, "hold": True})
    assert response.status_code == 201, response.get_json()
    job_id = response.get_json()["job_id"]
    wait_job(gateway, "alice", job_id, ("held",))
    assert job_attributes(job_id)["job-hold-until"] == "indefinite"


def test_gateway_allows_only_an_indefinite_hold(gateway):
    with pytest.raises(GatewayError) as refused:
        gateway.call(
            "submit", user="alice", printer=QUEUE, path="/nonexistent", title="x", options={"job-hold-until": "weekend"}
        )
    assert refused.value.code == "bad_request"
