"""Administration: refused to ordinary users, allowed to the admin group, CUPS doing the work."""

import subprocess

import pytest
from conftest import PARKED, QUEUE, print_pdf, wait_for, wait_job


def printer_state(gateway, name):
    return next(p for p in gateway.call("printers", user="carol") if p["name"] == name)


def test_admin_pages_refused_to_alice(login):
    alice = login("alice")
    assert alice.get("/admin/").status_code == 403
    assert alice.post(f"/admin/printers/{QUEUE}/pause").status_code == 403
    assert alice.api("POST", f"/api/v1/admin/printers/{QUEUE}/pause").status_code == 403
    assert alice.api("GET", "/api/v1/admin/watchdog").status_code == 403
    assert "Administration" not in alice.get("/jobs").get_data(as_text=True)


def test_admin_page_for_carol(login, pdf_file, clean_queues):
    alice = login("alice")
    job_id = print_pdf(alice, pdf_file(name="alice-doc.pdf"), printer=PARKED)
    page = login("carol").get("/admin/").get_data(as_text=True)
    assert "Test laser" in page
    assert "alice-doc.pdf" in page
    assert f"Purge job {job_id}" in page
    assert "Recent watchdog actions" in page


@pytest.mark.parametrize(
    ("action", "check", "offered", "hidden"),
    [
        ("pause", lambda p: p["state"] == "stopped" and "paused by an admin" in p["message"], "Resume", "Pause"),
        ("resume", lambda p: p["state"] == "idle", "Pause", "Resume"),
        ("reject", lambda p: not p["accepting"] and "not accepting" in p["message"], "Accept jobs", "Reject jobs"),
        ("accept", lambda p: p["accepting"], "Reject jobs", "Accept jobs"),
    ],
)
def test_printer_control(login, gateway, action, check, offered, hidden, clean_queues):
    carol = login("carol")
    response = carol.post(f"/admin/printers/{QUEUE}/{action}")
    assert response.status_code == 303
    assert check(printer_state(gateway, QUEUE))
    # The printer's card offers only the action that undoes this one.
    page = carol.get("/admin/").get_data(as_text=True)
    assert f'aria-label="{offered} {QUEUE}"' in page
    assert f'aria-label="{hidden} {QUEUE}"' not in page


def test_move_and_purge(login, gateway, pdf_file, clean_queues):
    alice = login("alice")
    moved = print_pdf(alice, pdf_file(name="move-me.pdf"), printer=PARKED)
    purged = print_pdf(alice, pdf_file(name="purge-me.pdf"), printer=PARKED)
    carol = login("carol")
    assert carol.post(f"/admin/jobs/{moved}/move", {"printer": QUEUE}).status_code == 303
    done = wait_job(gateway, "alice", moved, ("completed",))
    assert done["printer"] == QUEUE
    assert carol.post(f"/admin/jobs/{purged}/purge").status_code == 303
    assert f"Job {purged} was cancelled and purged." in carol.get("/admin/").get_data(as_text=True)
    assert all(job["id"] != purged for job in gateway.call("jobs", user="carol", which="all", all_users=True))


def test_admin_can_cancel_others_jobs_and_sees_them(login, gateway, pdf_file, clean_queues):
    job_id = print_pdf(login("alice"), pdf_file(name="a.pdf"), printer=PARKED)
    carol = login("carol")
    jobs = carol.api("GET", "/api/v1/jobs?all_users=1").get_json()
    assert any(job["id"] == job_id and job["owner"] == "alice" for job in jobs)
    assert carol.api("POST", f"/api/v1/jobs/{job_id}/cancel").status_code == 200
    assert wait_job(gateway, "carol", job_id, ("cancelled",))


def test_all_users_is_ignored_for_non_admins(login, pdf_file, clean_queues):
    job_id = print_pdf(login("carol"), pdf_file(name="carols.pdf"), printer=PARKED)
    jobs = login("alice").api("GET", "/api/v1/jobs?all_users=1").get_json()
    assert all(job["id"] != job_id for job in jobs)


def test_watchdog_log_for_admins(gateway):
    lines = gateway.call("watchdog_log", user="carol")
    assert isinstance(lines, list)


def test_watchdog_log_shows_only_actions_newest_first(gateway, login):
    """Every timer run makes systemd log Starting/Finished/Deactivated: none of that is shown."""

    def unit_gone():
        state = subprocess.run(
            ["systemctl", "show", "-P", "LoadState", "printbridge-watchdog.service"], capture_output=True, text=True
        )
        return state.stdout.strip() == "not-found"

    def run_watchdog(script):
        # systemd unloads a finished transient unit a moment after --wait returns.
        wait_for(unit_gone, timeout=30, interval=0.1, what="the previous watchdog run to be unloaded")
        subprocess.run(
            ["systemd-run", "-q", "--wait", "--collect", "--unit=printbridge-watchdog.service", "sh", "-c", script],
            check=True,
            capture_output=True,
            timeout=60,
        )

    for number in range(23):
        run_watchdog("true")  # a run that finds nothing to do
        run_watchdog(f"echo 'watchdog: re-enabled stopped queue q{number} (test)' >&2")
    expected = [f"watchdog: re-enabled stopped queue q{number} (test)" for number in range(22, 2, -1)]

    def shown():
        lines = gateway.call("watchdog_log", user="carol")
        return lines if [line["message"] for line in lines] == expected else None

    lines = wait_for(shown, timeout=30, what="the watchdog's actions in the journal")
    assert {line["unit"] for line in lines} == {"printbridge-watchdog.service"}
    page = login("carol").get("/admin/").get_data(as_text=True)
    assert "queue q22 (test)" in page
    assert "Deactivated" not in page and "Starting" not in page and "Finished" not in page
