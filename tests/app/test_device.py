"""The first boot's outcome (printbridge-firstboot's firstboot.json) and the card's directory join (directory-join.json)
on the admin page and in /healthz."""

import json

import pytest
from conftest import Browser

REFUSED = {
    "status": "ok",
    "message": "first boot done; printbridge.yml was refused, the image's settings apply",
    "hostname": "printbridge-3f9a21",
    "finished": "2026-11-23T10:00:00Z",
    "config_refused": 'timezone "Mars/Olympus" is not a time zone (e.g. Europe/Berlin)',
}


@pytest.fixture
def with_records(make_app, users, tmp_path):
    """An admin's and an anonymous browser on an app whose device has the records *first_boot* (firstboot.json)
    and *join* (directory-join.json); None: no such file."""

    def make(first_boot=None, join=None):
        files = {}
        for name, record in (("firstboot", first_boot), ("directory_join", join)):
            path = tmp_path / f"{name}.json"
            path.unlink(missing_ok=True)
            if record is not None:
                path.write_text(record if isinstance(record, str) else json.dumps(record))
            files[f"{name}_status_file"] = str(path)
        app = make_app(**files)
        admin = Browser(app)
        assert admin.login("carol", users["carol"]).status_code == 302
        return admin, Browser(app)

    return make


def test_a_refused_printbridge_yml_is_shown_to_admins(with_records):
    admin, anonymous = with_records(first_boot=REFUSED)
    page = admin.get("/admin/").get_data(as_text=True)
    assert "first boot</h2>" in page
    assert "Mars/Olympus" in page and 'role="alert"' in page and "printbridge-3f9a21" in page
    health = anonymous.get("/healthz").get_json()
    assert health["first_boot"] == {"status": "ok", "config_refused": True}
    assert "Mars" not in anonymous.get("/healthz").get_data(as_text=True)


def test_a_failed_first_boot_is_shown(with_records):
    admin, anonymous = with_records(
        first_boot={**REFUSED, "status": "failed", "message": "ssh-keygen failed", "config_refused": ""}
    )
    page = admin.get("/admin/").get_data(as_text=True)
    assert "ssh-keygen failed" in page and "tried again at the next boot" in page
    assert anonymous.get("/healthz").get_json()["first_boot"] == {"status": "failed", "config_refused": False}


def test_a_good_first_boot_or_none_shows_nothing(with_records):
    for record in ({**REFUSED, "message": "first boot done", "config_refused": ""}, None):
        admin, anonymous = with_records(first_boot=record)
        assert "first boot" not in admin.get("/admin/").get_data(as_text=True)
        expected = record and {"status": "ok", "config_refused": False}
        assert anonymous.get("/healthz").get_json()["first_boot"] == expected


def test_an_unreadable_record_is_reported_not_a_crash(with_records):
    admin, anonymous = with_records(first_boot="{not json")
    page = admin.get("/admin/").get_data(as_text=True)
    assert "cannot be read" in page
    assert anonymous.get("/healthz").get_json()["first_boot"]["status"] == "unknown"


JOIN = {
    "status": "failed",
    "message": "lab.example.org refused to join this host as PRINTBRIDGE-3F: Couldn't authenticate as: printjoin",
    "domain": "lab.example.org",
    "finished": "2026-11-23T10:05:00Z",
}


def test_a_refused_directory_join_is_shown_to_admins(with_records):
    admin, anonymous = with_records(join=JOIN)
    page = admin.get("/admin/").get_data(as_text=True)
    assert "directory join</h2>" in page and 'role="alert"' in page
    assert "Couldn&#39;t authenticate as: printjoin" in page and "playbooks/site.yml" in page
    health = anonymous.get("/healthz").get_json()
    assert health["directory_join"] == {"status": "failed"}
    assert "printjoin" not in anonymous.get("/healthz").get_data(as_text=True)


def test_a_directory_join_waiting_for_the_domain_is_shown(with_records):
    admin, anonymous = with_records(
        join={**JOIN, "status": "waiting", "message": "lab.example.org does not answer yet"}
    )
    page = admin.get("/admin/").get_data(as_text=True)
    assert "does not answer yet" in page and 'role="status"' in page and "joins as soon as" in page
    assert anonymous.get("/healthz").get_json()["directory_join"] == {"status": "waiting"}


def test_a_joined_domain_or_none_shows_nothing(with_records):
    for record in ({**JOIN, "status": "ok", "message": "joined lab.example.org"}, None):
        admin, anonymous = with_records(join=record)
        assert "directory join" not in admin.get("/admin/").get_data(as_text=True)
        assert anonymous.get("/healthz").get_json()["directory_join"] == (record and {"status": "ok"})
