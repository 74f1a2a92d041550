"""The user's own jobs: hold, release, cancel, reprint; other users' jobs are CUPS's to refuse."""

from conftest import PARKED, QUEUE, print_pdf, wait_for, wait_job


def test_hold_release_cancel_own_job(login, gateway, pdf_file, clean_queues):
    browser = login("alice")
    job_id = print_pdf(browser, pdf_file(name="held.pdf"), printer=PARKED)
    assert browser.post(f"/jobs/{job_id}/hold").status_code == 303
    assert wait_job(gateway, "alice", job_id, ("held",))
    assert f"Job {job_id} was held." in browser.get("/jobs").get_data(as_text=True)
    assert browser.post(f"/jobs/{job_id}/release").status_code == 303
    assert wait_job(gateway, "alice", job_id, ("pending",))
    assert browser.post(f"/jobs/{job_id}/cancel").status_code == 303
    assert wait_job(gateway, "alice", job_id, ("cancelled",))


def test_other_user_cannot_cancel(login, gateway, pdf_file, clean_queues):
    alice = login("alice")
    job_id = print_pdf(alice, pdf_file(), printer=PARKED)
    dave = login("dave")
    dave.post(f"/jobs/{job_id}/cancel")
    page = dave.get("/jobs").get_data(as_text=True)
    assert f"Job {job_id}: You are not allowed to cancel this job." in page
    response = dave.api("POST", f"/api/v1/jobs/{job_id}/hold")
    assert response.status_code == 403
    assert response.get_json()["message"] == "You are not allowed to hold this job."
    assert wait_job(gateway, "alice", job_id, ("pending",))


def test_my_jobs_lists_only_mine(login, pdf_file, clean_queues):
    alice = login("alice")
    job_id = print_pdf(alice, pdf_file(name="secret-plan.pdf"), printer=PARKED)
    assert "secret-plan.pdf" in alice.get("/jobs").get_data(as_text=True)
    dave = login("dave")
    assert all(job["id"] != job_id for job in dave.api("GET", "/api/v1/jobs").get_json())
    assert "secret-plan.pdf" not in dave.get("/jobs").get_data(as_text=True)


def test_reprint_completed_job(login, gateway, pdf_file, clean_queues):
    browser = login("alice")
    job_id = print_pdf(browser, pdf_file(pages=2, name="again.pdf"), printer=QUEUE)
    assert finished_pages(browser, job_id, total=2)["runs"] == 1
    response = browser.post(f"/jobs/{job_id}/reprint")
    assert response.status_code == 303
    assert f"Job {job_id} was sent again." in browser.get("/jobs/history").get_data(as_text=True)
    # CUPS adds the second run's pages to the first's; the app shows each run's.
    again = finished_pages(browser, job_id, total=4)
    assert (again["pages"], again["runs"]) == (2, 2)
    assert "printed 2 times, 4 pages in all" in browser.get("/jobs/history").get_data(as_text=True)
    assert browser.api("POST", f"/api/v1/jobs/{job_id}/reprint").status_code == 200
    third = finished_pages(browser, job_id, total=6)
    assert (third["pages"], third["runs"]) == (2, 3)


def finished_pages(browser, job_id, total):
    """The job as the API lists it once it completed with *total* pages over all runs."""

    def done():
        for job in browser.api("GET", "/api/v1/jobs?which=completed").get_json():
            if job["id"] == job_id and job["state"] == "completed" and job["pages_total"] == total:
                return job
        return None

    return wait_for(done, timeout=90, interval=0.5, what=f"job {job_id} to complete with {total} pages in all")


def test_live_status_page_uses_static_script(login):
    page = login("alice").get("/jobs").get_data(as_text=True)
    assert 'aria-live="polite"' in page
    assert '<script src="/static/app.js" defer></script>' in page
