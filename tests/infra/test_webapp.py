"""The web app as deployed: services, sandboxing, HTTP from an office PC, file permissions (TLS: test_tls.py)."""

import json
import re

import pikepdf
import pytest
from conftest import in_office

UNITS = ["printbridge-gateway.socket", "printbridge-web.socket", "nginx.service"]


def properties(host, unit, *names):
    out = host.check_output(f"systemctl show {unit} " + " ".join(f"-p {n}" for n in names))
    return dict(line.split("=", 1) for line in out.splitlines())


def main_pid(host, unit):
    # The app is socket-activated: the first request starts it.
    host.run("curl -sk -o /dev/null https://localhost/healthz")
    return int(properties(host, unit, "MainPID")["MainPID"])


@pytest.mark.parametrize("unit", UNITS)
def test_units_enabled_and_running(host, unit):
    service = host.service(unit)
    assert service.is_enabled
    assert service.is_running


def test_app_and_gateway_answer_health_checks_from_the_office(hostvars):
    result = in_office("curl", "-sk", f"https://{hostvars['ansible_host']}/healthz")
    health = json.loads(result.stdout)
    assert health["app"] == "ok"
    assert health["cupsd"] == "ok"
    assert {p["name"] for p in health["printers"]} >= {"office-laser", "office-ipp", "office"}


def test_app_runs_unprivileged_in_its_sandbox(host):
    pid = main_pid(host, "printbridge-web.service")
    status = host.file(f"/proc/{pid}/status").content_string
    assert re.search(r"^Uid:\s+(\d+)", status, re.M).group(1) == str(host.user("pbweb").uid)
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.M)
    assert re.search(r"^CapEff:\s+0+$", status, re.M)
    assert re.search(r"^Seccomp:\s+2$", status, re.M), "a system call filter is in force"
    props = properties(host, "printbridge-web.service", "ProtectSystem", "ProtectHome", "PrivateTmp", "User")
    assert props == {"ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes", "User": "pbweb"}
    # What the sandbox does, seen from inside the app's mount namespace.
    assert host.run(f"nsenter -t {pid} -m touch /usr/lib/printbridge/x").rc != 0, "/usr is read-only"
    assert host.run(f"nsenter -t {pid} -m touch /etc/printbridge/x").rc != 0, "/etc is read-only"
    assert host.run(f"nsenter -t {pid} -m ls /home/pbadmin").rc != 0, "homes are hidden"


def test_uploads_are_parsed_outside_the_app_workers(host, web, tmp_path):
    # qpdf parses untrusted PDFs in a short-lived child (printbridge.pdfcheck):
    # the long-running gunicorn processes never load it.
    document = tmp_path / "check.pdf"
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.save(document)
    main = main_pid(host, "printbridge-web.service")
    answer = web(
        [
            {"method": "POST", "path": "/api/v1/uploads", "csrf": True, "files": [str(document)]},
            {"method": "DELETE", "path": "/api/v1/uploads/$upload", "csrf": True},
        ],
        user="alice",
    )
    assert answer["responses"][0]["status"] == 201, answer
    assert answer["responses"][0]["json"]["uploads"][0]["pages"] == 1
    assert answer["responses"][1]["status"] == 204, answer
    workers = host.check_output(f"cat /proc/{main}/task/*/children").split()
    assert workers
    for pid in [main, *workers]:
        assert "qpdf" not in host.file(f"/proc/{pid}/maps").content_string


def test_gateway_keeps_only_the_capabilities_it_needs(host):
    host.run("curl -sk -o /dev/null https://localhost/healthz")
    pid = int(properties(host, "printbridge-gateway.service", "MainPID")["MainPID"])
    assert pid > 0
    status = host.file(f"/proc/{pid}/status").content_string
    bounding = int(re.search(r"^CapBnd:\s+([0-9a-f]+)$", status, re.M).group(1), 16)
    # CAP_DAC_READ_SEARCH (2), CAP_SETGID (6), CAP_SETUID (7), CAP_AUDIT_WRITE (29)
    assert bounding == (1 << 2) | (1 << 6) | (1 << 7) | (1 << 29)
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.M)


@pytest.mark.parametrize(
    ("path", "owner", "group", "mode"),
    [
        ("/etc/printbridge/web.toml", "root", "pbweb", 0o640),
        ("/var/lib/printbridge-web", "pbweb", "pbweb", 0o700),
        ("/var/lib/printbridge-web/uploads", "pbweb", "pbweb", 0o700),
        ("/var/lib/printbridge-web/secret_key", "pbweb", "pbweb", 0o600),
        ("/run/printbridge/gateway.sock", "root", "pbweb", 0o660),
        ("/run/printbridge-web.sock", "www-data", "www-data", 0o600),
        ("/usr/lib/printbridge/printbridge/__init__.py", "root", "root", 0o644),
        ("/etc/pam.d/printbridge", "root", "root", 0o644),
    ],
)
def test_file_permissions(host, path, owner, group, mode):
    host.run("curl -sk -o /dev/null https://localhost/healthz")
    f = host.file(path)
    assert f.exists
    assert (f.user, f.group, f.mode) == (owner, group, mode)


def test_app_account_has_no_login(host):
    user = host.user("pbweb")
    assert user.shell == "/usr/sbin/nologin"
    assert user.password in ("!", "*", "!*")
    assert user.groups == ["pbweb"]


def test_http_redirects_to_https(hostvars):
    address = hostvars["ansible_host"]
    result = in_office("curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", f"http://{address}/jobs")
    assert result.stdout == f"301 https://{address}/jobs"


def test_security_headers(hostvars):
    result = in_office("curl", "-skD", "-", "-o", "/dev/null", f"https://{hostvars['ansible_host']}/login")
    headers = result.stdout.lower()
    assert "strict-transport-security: max-age=31536000" in headers
    assert "content-security-policy:" in headers
    assert "x-content-type-options: nosniff" in headers
    assert "server: nginx\n" in headers, "no version in the Server header"


def test_upload_limit_enforced_by_nginx(host, hostvars):
    limit = hostvars.get("webapp_max_upload_mb", 25)
    spooled = "find /var/lib/printbridge-web/uploads -type f | wc -l"
    before = host.check_output(spooled)
    result = in_office(
        "sh",
        "-c",
        f"head -c {(limit + 2) * 1024 * 1024} /dev/zero | curl -sk -o /dev/null -w '%{{http_code}}' "
        f"-H 'Content-Type: application/pdf' --data-binary @- https://{hostvars['ansible_host']}/api/v1/uploads",
    )
    assert result.stdout == "413"
    # The app never saw it: nothing was written to the spool.
    assert host.check_output(spooled) == before
