"""'E-mail me when done': the job's CUPS mailto subscription reaches an SMTP server on the office network."""

import email
import re
import subprocess
import time
from email.message import Message
from pathlib import Path

import pikepdf
import pytest
from conftest import OFFICE_NAMESPACE, in_office

SINK = "10.213.0.6:2525"  # the office PC; webapp_smtp_server in molecule's group_vars
SMTPD = ("/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l", SINK)  # Debian's python3-aiosmtpd


@pytest.fixture
def mailbox(tmp_path):
    """An SMTP server on the office PC that keeps every message in a Maildir."""
    maildir = tmp_path / "maildir"
    server = subprocess.Popen(
        ["ip", "netns", "exec", OFFICE_NAMESPACE, *SMTPD, "-c", "aiosmtpd.handlers.Mailbox", str(maildir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    host, port = SINK.split(":")
    probe = f"import socket; socket.create_connection(('{host}', {port}), timeout=2).close()"
    deadline = time.monotonic() + 20
    while in_office("/usr/bin/python3", "-c", probe).returncode != 0:
        assert server.poll() is None, server.stderr.read().decode()
        assert time.monotonic() < deadline, "the SMTP sink did not start"
        time.sleep(0.3)
    yield maildir
    server.terminate()
    server.wait(timeout=10)


def received(maildir: Path) -> list[Message]:
    return [email.message_from_bytes(path.read_bytes()) for path in sorted((maildir / "new").glob("*"))]


def about(mails: list[Message], job: int) -> list[Message]:
    """The mails about one job: CUPS names it "QUEUE-ID" in the subject."""
    return [mail for mail in mails if re.search(rf"-{job}\b", mail["Subject"] or "")]


def print_as_alice(web, folder: Path, notify: bool) -> int:
    """Upload a one-page PDF and print it on office-ipp through the API; the job's id."""
    document = folder / "mail-test.pdf"
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    pdf.save(document)
    submit = {"upload": "$upload", "printer": "office-ipp", "notify": notify}
    answers = web(
        [
            {"method": "POST", "path": "/api/v1/uploads", "csrf": True, "files": [str(document)]},
            {"method": "POST", "path": "/api/v1/jobs", "csrf": True, "json": submit},
        ],
        user="alice",
    )["responses"]
    assert answers[0]["status"] == 201, answers[0]
    assert answers[1]["status"] == 201, answers[1]
    return answers[1]["json"]["job_id"]


@pytest.mark.default_only
def test_finished_job_is_mailed_to_its_owner(web, mailbox, tmp_path):
    job = print_as_alice(web, tmp_path, notify=True)

    # The simulated printer takes 5-15 s per job; CUPS then runs its mailto notifier.
    # Other tests' jobs may send mail too: only this job's counts.
    deadline = time.monotonic() + 150
    while not (mails := about(received(mailbox), job)) and time.monotonic() < deadline:
        time.sleep(1)
    assert mails, "no e-mail about the job arrived"
    mail = mails[0]
    assert mail["To"] == "alice@lab.printbridge.test"
    assert mail["From"] == "printbridge@lab.printbridge.test"
    assert "completed" in mail["Subject"].lower()


@pytest.mark.default_only
def test_no_mail_unless_asked(web, mailbox, tmp_path):
    job = print_as_alice(web, tmp_path, notify=False)
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        states = web([{"method": "GET", "path": "/api/v1/jobs?which=all"}], user="alice")["responses"][0]["json"]
        if any(j["id"] == job and j["state"] in ("completed", "aborted", "cancelled") for j in states):
            break
        time.sleep(2)
    time.sleep(3)  # the notifier would have run by now
    assert about(received(mailbox), job) == []
