"""Uploads: content checks, hostile files, sanitising, size and disk limits."""

import subprocess
from pathlib import Path

import pikepdf
import pytest
from conftest import PARKED, Browser, session_uploads, upload, wait_job

from printbridge import uploads


def stored_files(spool_dir):
    return sorted(p.name for p in spool_dir.iterdir())


def test_valid_pdf_shows_its_pages(login, pdf_file, spool_dir):
    browser = login("alice")
    response = upload(browser, pdf_file(pages=3, name="report.pdf"))
    assert response.status_code == 302
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "“report.pdf” is ready to print (3 pages)" in page
    assert "report.pdf \u2013 3 pages" in page
    (token,) = session_uploads(browser)
    path = spool_dir / f"{token}.pdf"
    assert path.stat().st_mode & 0o777 == 0o600


def test_several_files_at_once(login, pdf_file):
    browser = login("alice")
    with pdf_file(pages=1, name="a.pdf").open("rb") as a, pdf_file(pages=2, name="b.pdf").open("rb") as b:
        response = browser.post(
            "/print/upload", {"files": [(a, "a.pdf"), (b, "b.pdf")]}, content_type="multipart/form-data"
        )
    assert response.status_code == 302
    assert sorted(u["pages"] for u in session_uploads(browser).values()) == [1, 2]


@pytest.mark.parametrize(
    ("content", "message", "status"),
    [
        (b"MZ\x90\x00 not a pdf at all", "is not a PDF file", 415),
        (b"%PDF-1.7\n" + bytes(range(256)) * 40, "is damaged", 400),
        (b"", "is empty", 400),
    ],
)
def test_hostile_content_refused(login, tmp_path, spool_dir, content, message, status):
    browser = login("alice")
    path = tmp_path / "evil.pdf"
    path.write_bytes(content)
    before = stored_files(spool_dir)
    response = upload(browser, path)
    assert response.status_code == status
    assert message in response.get_data(as_text=True)
    assert stored_files(spool_dir) == before


def test_encrypted_refused(login, pdf_file):
    response = upload(login("alice"), pdf_file(encrypt=True))
    assert response.status_code == 400
    assert "protected with a password" in response.get_data(as_text=True)


def test_a_check_that_runs_out_of_time_is_refused_and_leaves_nothing(login, pdf_file, spool_dir, monkeypatch):
    # The PDF check is a child with limits; one that cannot finish in time is refused cleanly.
    monkeypatch.setattr(uploads, "CHECK_TIMEOUT", 0.001)
    before = stored_files(spool_dir)
    response = upload(login("alice"), pdf_file(name="huge.pdf"))
    assert response.status_code == 422
    assert "“huge.pdf” could not be checked" in response.get_data(as_text=True)
    assert stored_files(spool_dir) == before


def test_zero_pages_refused(login, pdf_file):
    response = upload(login("alice"), pdf_file(pages=0))
    assert response.status_code == 400
    assert "has no pages" in response.get_data(as_text=True)


def test_too_many_pages_refused(login, pdf_file):
    response = upload(login("alice"), pdf_file(pages=21))
    assert response.status_code == 413
    assert "has 21 pages; at most 20" in response.get_data(as_text=True)


def test_over_size_refused(login, pdf_file):
    response = upload(login("alice"), pdf_file(padding=3 * 1024 * 1024))
    assert response.status_code == 413
    assert "larger than 2 MB" in response.get_data(as_text=True)


def test_javascript_and_open_actions_removed(login, pdf_file, spool_dir):
    browser = login("alice")
    response = upload(browser, pdf_file(pages=2, javascript=True))
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "Active content (scripts, automatic actions or attached files) was removed." in page
    (token,) = session_uploads(browser)
    with pikepdf.open(spool_dir / f"{token}.pdf") as pdf:
        assert "/OpenAction" not in pdf.Root
        assert "/JavaScript" not in pdf.Root.get("/Names", {})
        assert "/AA" not in pdf.pages[0].obj
        assert not any(isinstance(o, pikepdf.Dictionary) and "/JS" in o for o in pdf.objects)
    assert len(pdf_file(pages=2).read_bytes()) > 0


def test_client_file_name_is_never_a_path(login, pdf_file, spool_dir):
    browser = login("alice")
    response = upload(browser, pdf_file(), filename="../../../../etc/evil.pdf")
    assert response.status_code == 302
    (meta,) = session_uploads(browser).values()
    assert meta["title"] == "evil.pdf"
    assert not Path("/etc/evil.pdf").exists()
    assert all(len(name) == 36 and name.endswith(".pdf") for name in stored_files(spool_dir))


def test_uploads_belong_to_their_session(login, pdf_file):
    alice = login("alice")
    upload(alice, pdf_file())
    (token,) = session_uploads(alice)
    dave = login("dave")
    response = dave.api("POST", "/api/v1/jobs", json={"upload": token, "printer": PARKED})
    assert response.status_code == 404


def test_expired_uploads_are_deleted(make_app, users, pdf_file, spool_dir):
    browser = Browser(make_app(upload_ttl_minutes=0))
    browser.login("alice", users["alice"])
    upload(browser, pdf_file())
    (token,) = session_uploads(browser)
    upload(browser, pdf_file(name="second.pdf"))  # every upload cleans up first
    assert not (spool_dir / f"{token}.pdf").exists()


@pytest.fixture
def tiny_spool(tmp_path):
    path = tmp_path / "tiny"
    path.mkdir(mode=0o700)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(path)], check=True)
    yield path
    subprocess.run(["umount", str(path)], check=True)


def test_disk_full_is_a_clear_507_and_queued_jobs_survive(
    make_app, start_gateway, tiny_spool, users, pdf_file, clean_queues
):
    gateway = start_gateway(tiny_spool)
    browser = Browser(make_app(spool_dir=str(tiny_spool), gateway_socket=str(gateway.socket), max_upload_mb=5))
    browser.login("alice", users["alice"])
    upload(browser, pdf_file(name="first.pdf"))
    (token,) = session_uploads(browser)
    response = browser.api("POST", "/api/v1/jobs", json={"upload": token, "printer": PARKED})
    assert response.status_code == 201
    job_id = response.get_json()["job_id"]

    response = upload(browser, pdf_file(name="big.pdf", padding=2 * 1024 * 1024))
    assert response.status_code == 507
    assert "upload space is full" in response.get_data(as_text=True)
    assert list(tiny_spool.iterdir()) == []
    assert wait_job(gateway, "alice", job_id, ("pending",))["title"] == "first.pdf"


def test_one_page_is_singular(login, pdf_file):
    browser = login("alice")
    response = upload(browser, pdf_file(pages=1, name="memo.pdf"))
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "“memo.pdf” is ready to print (1 page)." in page
    assert "memo.pdf \u2013 1 page<" in page
    assert "1 pages" not in page


def test_uploads_keep_their_order(login, pdf_file):
    """The session is JSON with sorted keys: the random tokens must not decide the order."""
    browser = login("alice")
    names = [f"doc{number}.pdf" for number in range(8)]
    for name in names[:4]:
        upload(browser, pdf_file(name=name))
    paths = [pdf_file(name=name) for name in names[4:]]
    handles = [path.open("rb") for path in paths]
    try:
        files = [(handle, path.name) for handle, path in zip(handles, paths, strict=True)]
        assert browser.post("/print/upload", {"files": files}, content_type="multipart/form-data").status_code == 302
    finally:
        for handle in handles:
            handle.close()
    assert [u["title"] for u in browser.api("GET", "/api/v1/uploads").get_json()] == names
    page = browser.get("/print").get_data(as_text=True)
    positions = [page.index(f"{name} \u2013 1 page") for name in names]
    assert positions == sorted(positions)
