"""The web app in a real browser on the office PC: sign-in, upload, print, follow, hold, cancel, reprint, admin.

Playwright drives Debian's chromium inside the office network namespace (office-chromium). Every step
leaves a screenshot in ${PB_ARTIFACTS:-/var/lib/printbridge-lab/artifacts}/screenshots/<host>/NN-step.png."""

import base64
import re
import shutil
import time
from urllib.parse import unquote

import pikepdf
import pytest

QUEUE = "office-ipp"
DASH = "\N{EN DASH}"  # how the print page joins a document's title and page count
WRONG = "The user name or password is wrong"
# Jobs take 5-15 s on the lab printer and several run one after another.
PRINT_TIMEOUT = 120
_shot_numbers: dict[str, int] = {}


def make_pdf(path, pages, text=b"PrintBridge"):
    pdf = pikepdf.new()
    for _ in range(pages):
        pdf.add_blank_page(page_size=(595, 842))
    for page in pdf.pages:
        page.Contents = pdf.make_stream(b"BT /F1 24 Tf 72 720 Td (" + text + b") Tj ET")
        page.Resources = pikepdf.Dictionary(
            Font=pikepdf.Dictionary(
                F1=pikepdf.Dictionary(
                    Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
                )
            )
        )
    pdf.save(path)
    return path


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser-documents")
    return {
        name: make_pdf(folder / f"{name}.pdf", pages, name.encode())
        for name, pages in {
            "report": 3,
            "watch": 2,
            "held": 1,
            "cancelled": 1,
            "admin-a": 1,
            "admin-b": 1,
            "admin-c": 1,
        }.items()
    }


@pytest.fixture
def shot(artifacts, hostvars):
    """shot(page, "step"): a full-page screenshot NN-step.png, numbered per host across this run."""
    name = hostvars["inventory_hostname"]
    folder = artifacts / "screenshots" / name
    if name not in _shot_numbers:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        _shot_numbers[name] = 0

    def take(page, step):
        _shot_numbers[name] += 1
        page.screenshot(path=folder / f"{_shot_numbers[name]:02d}-{step}.png", full_page=True)

    return take


@pytest.fixture
def new_page(browser):
    """new_page(): a fresh browser profile (its own cookies) with one tab; closed after the test."""
    contexts = []

    def make():
        context = browser.new_context(ignore_https_errors=True, locale="en-GB", viewport={"width": 1280, "height": 800})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def sign_in(site, password):
    def go(page, user, secret=None):
        page.goto(f"{site}/login")
        page.get_by_label("User name").fill(user)
        page.get_by_label("Password").fill(password(user) if secret is None else secret)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        return page

    return go


def messages(page):
    return page.locator(".messages").inner_text() if page.locator(".messages").count() else ""


def upload(page, site, files, printer=QUEUE):
    page.goto(f"{site}/print?printer={printer}")
    page.locator("#files").set_input_files([str(path) for path in files])
    page.get_by_role("button", name="Upload").click()
    page.wait_for_load_state()
    for path in files:
        assert f"“{path.name}” is ready to print" in messages(page)


def print_uploads(page):
    """Press Print for every ticked upload; the job number of each document title."""
    page.get_by_role("button", name="Print", exact=True).click()
    page.wait_for_url(re.compile(r"/jobs$"))
    sent = dict(re.findall(r"“([^”]+)” was sent to \S+ as job (\d+)\.", messages(page)))
    return {title: int(job) for title, job in sent.items()}


def job_action(page, job, label):
    page.get_by_role("button", name=f"{label} job {job}", exact=True).click()
    page.wait_for_load_state()
    return messages(page)


def follow_jobs(page, jobs, timeout=PRINT_TIMEOUT):
    """Watch the jobs page update itself until every job of jobs on it has left it with "has printed" announced.
    Returns each job's states as the page showed them. Fails if the page reloads meanwhile."""
    page.evaluate("window.pbNotReloaded = true")
    # A job the printer took at once may have finished before the page was drawn: the history checks it.
    shown = page.evaluate("() => [...document.querySelectorAll('tr[data-job]')].map((row) => Number(row.dataset.job))")
    jobs = [job for job in jobs if job in shown]
    assert jobs, f"none of the jobs is on the page to follow ({shown})"
    seen = {job: [] for job in jobs}
    announced = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = page.evaluate(
            """() => ({
                rows: Object.fromEntries([...document.querySelectorAll('tr[data-job]')]
                    .map((row) => [row.dataset.job, row.dataset.state])),
                said: document.getElementById('announcer').textContent,
                same: window.pbNotReloaded === true,
            })"""
        )
        assert state["same"], "the jobs page reloaded instead of updating itself"
        for job in jobs:
            current = state["rows"].get(str(job))
            if current and (not seen[job] or seen[job][-1] != current):
                seen[job].append(current)
            if f"Job {job} (" in state["said"]:
                assert f"Job {job} (" in state["said"] and "has printed" in state["said"], state["said"]
                announced.add(job)
        if announced >= set(jobs) and not set(map(str, jobs)) & set(state["rows"]):
            return seen
        time.sleep(0.25)
    pytest.fail(f"jobs {sorted(set(jobs) - announced)} were not announced as printed in {timeout} s: {seen}")


def test_wrong_password_is_refused_with_a_clear_message(new_page, sign_in, site, shot, clear_office_lockout):
    page = sign_in(new_page(), "alice", secret="not-alices-password")
    shot(page, "wrong-password")
    assert "/login" in page.url
    assert page.locator(".message.error").inner_text().startswith(WRONG)
    assert page.get_by_label("User name").input_value() == "alice", "the user name is kept for a second try"
    page.goto(f"{site}/jobs")
    assert "/login" in page.url, "a wrong password must not sign in"


def test_user_outside_the_print_groups_cannot_sign_in(new_page, sign_in, site, shot, clear_office_lockout):
    page = sign_in(new_page(), "bob")
    shot(page, "bob-refused")
    assert "/login" in page.url
    assert page.locator(".message.error").inner_text().startswith(WRONG)
    page.goto(f"{site}/print")
    assert "/login" in page.url


def test_accessibility_basics(new_page, sign_in, site, pdfs, shot):
    page = new_page()
    page.goto(f"{site}/login")
    pages = {"login": page.url}
    check_labels_and_lang(page)
    sign_in(page, "alice")
    upload(page, site, [pdfs["report"]])
    for path in ("/print?printer=office-ipp", "/jobs", "/jobs/history", "/guide"):
        page.goto(site + path)
        pages[path] = check_labels_and_lang(page)
    # Keyboard only: Tab from the top of the print page reaches the upload control, then the Print button.
    page.goto(f"{site}/print?printer={QUEUE}")
    page.locator("body").focus()
    reached = []
    for _ in range(60):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => { const e = document.activeElement; return e.id || `${e.tagName}:${e.textContent.trim()}`; }"
        )
        reached.append(focused)
        if focused == "files":
            shot(page, "keyboard-focus-on-upload")
        if focused == "BUTTON:Print":
            shot(page, "keyboard-focus-on-print")
            break
    assert "files" in reached, f"Tab never reached the upload control: {reached}"
    assert reached[-1] == "BUTTON:Print", f"Tab never reached the Print button: {reached}"
    page.get_by_role("button", name="Remove report.pdf").click()


def check_labels_and_lang(page):
    assert page.evaluate("document.documentElement.lang"), f"{page.url}: <html> has no lang attribute"
    controls = page.locator("input:not([type=hidden]), select, textarea")
    assert controls.count() or "/login" not in page.url
    for index in range(controls.count()):
        control = controls.nth(index)
        ident = control.evaluate("(e) => e.id || e.name")
        label = control.evaluate(
            "(e) => (e.labels && e.labels.length ? e.labels[0].innerText : e.getAttribute('aria-label') || '').trim()"
        )
        assert label, f"{page.url}: the control {ident!r} has no label"
        by_label = page.get_by_label(label, exact=True)
        assert by_label.evaluate_all("(found, id) => found.some((e) => (e.id || e.name) === id)", ident), (
            f"{page.url}: get_by_label({label!r}) does not find {ident!r}"
        )
    return controls.count()


def test_drop_zone_accepts_a_dropped_pdf(new_page, sign_in, site, pdfs, shot):
    page = sign_in(new_page(), "alice")
    page.goto(f"{site}/print?printer={QUEUE}")
    zone = page.locator("#dropzone")
    assert zone.is_visible()
    assert zone.locator("#files").count() == 1 and zone.locator("label[for=files]").count() == 1
    data = base64.b64encode(pdfs["watch"].read_bytes()).decode()
    transfer = page.evaluate_handle(
        """(data) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], 'dropped.pdf', { type: 'application/pdf' }));
            return transfer;
        }""",
        data,
    )
    zone.dispatch_event("dragenter", {"dataTransfer": transfer})
    assert "over" in zone.get_attribute("class"), "the drop zone shows that something can be dropped"
    with page.expect_navigation():
        zone.dispatch_event("drop", {"dataTransfer": transfer})
    shot(page, "dropped")
    assert "“dropped.pdf” is ready to print (2 pages)" in messages(page)
    page.get_by_role("button", name="Remove dropped.pdf").click()
    assert page.get_by_text("dropped.pdf").count() == 0


@pytest.mark.default_only
def test_print_follow_hold_release_cancel_reprint_and_history(new_page, sign_in, site, pdfs, shot):
    page = sign_in(new_page(), "alice")
    shot(page, "signed-in")
    assert page.url.endswith("/print")
    documents = [pdfs[name] for name in ("report", "watch", "held", "cancelled")]
    upload(page, site, documents)
    assert page.get_by_label(f"report.pdf {DASH} 3 pages").is_checked(), "the page count of each upload is shown"
    assert page.get_by_label(f"watch.pdf {DASH} 2 pages").is_checked()
    assert page.locator("#choose-printer").input_value() == QUEUE
    shot(page, "uploaded")

    jobs = print_uploads(page)
    assert set(jobs) == {"report.pdf", "watch.pdf", "held.pdf", "cancelled.pdf"}, messages(page)
    # The printer takes one job at a time: the last two sent wait in the queue, long enough to hold them.
    first, second, third, fourth = sorted(jobs.values())
    assert job_action(page, fourth, "Hold") == f"Job {fourth} was held."
    assert job_action(page, third, "Hold") == f"Job {third} was held."
    assert page.locator(f"tr[data-job='{third}']").get_attribute("data-state") == "held"
    assert page.get_by_role("button", name=f"Release job {third}").is_visible()
    shot(page, "held")

    assert job_action(page, fourth, "Cancel") == f"Job {fourth} was cancelled."
    assert page.locator(f"tr[data-job='{fourth}']").count() == 0
    assert job_action(page, third, "Release") == f"Job {third} was released."
    assert page.locator(f"tr[data-job='{third}']").get_attribute("data-state") in ("pending", "processing")
    shot(page, "released")
    states = follow_jobs(page, [first, second, third])
    assert any(state in ("pending", "processing") for state in states[third]), states
    shot(page, "all-printed")

    page.get_by_role("navigation").get_by_role("link", name="History").click()
    shot(page, "history")
    rows = {
        int(row.locator("td").first.inner_text()): row.locator("td").nth(3).inner_text()
        for row in page.locator("tbody tr").all()
        if row.locator("td").count() > 1
    }
    assert rows.get(first) == "completed", rows
    assert rows.get(second) == "completed", rows
    assert rows.get(third) == "completed", rows
    assert rows.get(fourth) == "cancelled", rows
    finished = page.locator(f"tr:has(button[aria-label='Print again job {second}']) time").get_attribute("datetime")
    assert job_action(page, second, "Print again") == f"Job {second} was sent again."
    shot(page, "reprinted")
    deadline = time.monotonic() + PRINT_TIMEOUT
    while True:
        page.goto(f"{site}/jobs/history")
        again = page.locator(f"tr:has(button[aria-label='Print again job {second}']) time")
        if again.count() and int(again.get_attribute("datetime")) > int(finished):
            break
        assert time.monotonic() < deadline, f"job {second} did not print again within {PRINT_TIMEOUT} s"
        time.sleep(2)

    page.get_by_role("button", name="Sign out alice").click()
    page.wait_for_url(re.compile(r"/login$"))
    assert "You are signed out." in messages(page)
    shot(page, "signed-out")
    page.goto(f"{site}/jobs/history")
    # Werkzeug 2.2 (bookworm) escapes the slashes in the query, 3.x does not.
    assert "/login?next=/jobs/history" in unquote(page.url), "after signing out, a protected page needs a new sign-in"


def test_admin_sees_everyones_jobs_and_controls_printers(new_page, sign_in, site, pdfs, shot):
    admin = sign_in(new_page(), "carol")
    assert admin.get_by_role("link", name="Administration").is_visible()
    office = sign_in(new_page(), "alice")
    assert office.get_by_role("link", name="Administration").count() == 0
    upload(office, site, [pdfs[name] for name in ("admin-a", "admin-b", "admin-c")])
    last = max(print_uploads(office).values())

    admin.get_by_role("link", name="Administration").click()
    shot(admin, "admin")
    row = admin.locator("tbody tr", has=admin.get_by_role("button", name=f"Cancel job {last}", exact=True))
    assert row.locator("td").nth(1).inner_text() == "alice", "the admin page lists other users' jobs"
    assert job_action(admin, last, "Cancel") == f"Job {last} was cancelled."
    assert admin.url.endswith("/admin/")

    steps = (("Pause", "paused", "stopped", "Resume"), ("Resume", "resumed", "idle", "Pause"))
    for action, word, state, other in steps:
        admin.get_by_role("button", name=f"{action} front-desk", exact=True).click()
        admin.wait_for_load_state()
        assert messages(admin) == f"front-desk is {word}."
        assert f"state-{state}" in admin.locator("[data-printer='front-desk']").get_attribute("class")
        # Only the action that changes the new state is offered.
        assert admin.get_by_role("button", name=f"{action} front-desk", exact=True).count() == 0
        assert admin.get_by_role("button", name=f"{other} front-desk", exact=True).count() == 1
        shot(admin, f"admin-{word}")

    response = office.goto(f"{site}/admin/")
    shot(office, "admin-refused")
    assert response.status == 403
    assert "You are not allowed to see this page." in office.content()
