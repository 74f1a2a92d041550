"""Fixtures for the web app and gateway tests, run as root inside a booted Debian lab host
(scripts/test app): the host's real cupsd, an ippeveprinter as the printer, real
local users checked by PAM, the gateway as a subprocess, and the app."""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
sys.path.insert(0, str(SRC))

if os.geteuid() != 0 or not Path("/usr/sbin/cupsd").exists():
    pytest.skip("the app tests run as root inside a lab host (scripts/test app)", allow_module_level=True)

import pikepdf  # noqa: E402

from printbridge.app import create_app  # noqa: E402
from printbridge.gateway_client import Gateway  # noqa: E402

USERS = {"alice": "pbprint", "bob": "", "carol": "pbprintadmin", "dave": "pbprint"}
PRINTER_PORT = 8631
QUEUE = "laser"
PARKED = "parked"  # a disabled queue: jobs stay pending there
BASE = "https://printbridge.test"

CUPSD_CONF = """\
LogLevel warn
MaxLogSize 0
Listen localhost:631
Listen /run/cups/cups.sock
Browsing No
WebInterface No
IdleExitTimeout 0
DefaultAuthType Basic
PreserveJobFiles Yes
PreserveJobHistory Yes
<Location />
  Order allow,deny
  Allow localhost
</Location>
<Location /admin>
  AuthType Default
  Require user @SYSTEM @pbprintadmin
  Order allow,deny
  Allow localhost
</Location>
<Policy default>
  JobPrivateAccess @OWNER @SYSTEM @pbprintadmin
  JobPrivateValues job-name job-originating-host-name job-originating-user-name phone
  SubscriptionPrivateAccess @OWNER @SYSTEM @pbprintadmin
  SubscriptionPrivateValues default
  <Limit Create-Job Print-Job Print-URI Validate-Job>
    AuthType Default
    Require user @pbprint @pbprintadmin
    Order deny,allow
  </Limit>
  <Limit Send-Document Send-URI Hold-Job Release-Job Restart-Job Purge-Jobs Set-Job-Attributes \
Create-Job-Subscription Renew-Subscription Cancel-Subscription Get-Notifications Reprocess-Job Cancel-Current-Job \
Suspend-Current-Job Resume-Job Cancel-My-Jobs Close-Job CUPS-Move-Job CUPS-Get-Document Cancel-Job \
CUPS-Authenticate-Job>
    AuthType Default
    Require user @OWNER @SYSTEM @pbprintadmin
    Order deny,allow
  </Limit>
  <Limit CUPS-Add-Modify-Printer CUPS-Delete-Printer CUPS-Add-Modify-Class CUPS-Delete-Class CUPS-Set-Default \
Pause-Printer Resume-Printer Enable-Printer Disable-Printer Hold-New-Jobs Release-Held-New-Jobs Cancel-Jobs \
CUPS-Accept-Jobs CUPS-Reject-Jobs>
    AuthType Default
    Require user @SYSTEM @pbprintadmin
    Order deny,allow
  </Limit>
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
"""


def run(*command: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=120, **kwargs)


def wait_for(predicate, timeout: float = 60, interval: float = 0.3, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def cups_answers() -> bool:
    return subprocess.run(["lpstat", "-r"], capture_output=True, text=True, check=False).stdout.startswith(
        "scheduler is running"
    )


def restart_cups() -> None:
    run("systemctl", "restart", "cups.service")
    wait_for(cups_answers, what="cupsd")


@pytest.fixture(scope="session")
def users():
    """Local accounts with random passwords, as the office directory would have them."""
    for group in ("pbprint", "pbprintadmin"):
        subprocess.run(["groupadd", "-f", group], check=True)
    passwords = {}
    for name, group in USERS.items():
        if subprocess.run(["id", name], capture_output=True, check=False).returncode != 0:
            run("useradd", "-m", *(["-G", group] if group else []), name)
        passwords[name] = secrets.token_urlsafe(12)
        run("chpasswd", input=f"{name}:{passwords[name]}\n")
    Path("/etc/pam.d/printbridge").write_text("@include common-auth\n@include common-account\n")
    return passwords


@pytest.fixture(scope="session")
def cups_server(users, tmp_path_factory):
    """The host's cupsd with a PrintBridge-like policy and two queues on an ippeveprinter."""
    Path("/etc/cups/cupsd.conf").write_text(CUPSD_CONF)
    restart_cups()
    spool = tmp_path_factory.mktemp("ippeveprinter")
    printer = subprocess.Popen(
        ["ippeveprinter", "-r", "off", "-p", str(PRINTER_PORT), "-d", str(spool), "-s", "600", "-2",
         "-f", "application/pdf,image/pwg-raster,image/urf", "-M", "PrintBridge", "-m", "Test Laser", "Test Laser"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: port_open(PRINTER_PORT), what="ippeveprinter")
        uri = f"ipp://localhost:{PRINTER_PORT}/ipp/print"
        for queue in (QUEUE, PARKED):
            run("lpadmin", "-p", queue, "-E", "-v", uri, "-m", "everywhere", "-D", f"Test {queue}", "-L", "Lab")
        run("cupsdisable", PARKED)
        yield {"printer_spool": spool}
    finally:
        printer.terminate()
        printer.wait(timeout=10)


@pytest.fixture(scope="session")
def spool_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("spool")
    path.chmod(0o700)
    return path


def write_config(path: Path, **values) -> Path:
    lines = []
    for key, value in values.items():
        if isinstance(value, str):
            lines.append(f'{key} = "{value}"')
        elif isinstance(value, list):
            lines.append(f"{key} = [{', '.join(repr(v).replace(chr(39), chr(34)) for v in value)}]")
        else:
            lines.append(f"{key} = {str(value).lower() if isinstance(value, bool) else value}")
    path.write_text("\n".join(lines) + "\n")
    return path


class GatewayProcess:
    def __init__(self, directory: Path, spool: Path) -> None:
        self.socket = directory / "gateway.sock"
        self.config = write_config(directory / "gateway.toml", spool_dir=str(spool))
        self.log = directory / "gateway.log"
        env = {**os.environ, "PYTHONPATH": str(SRC)}
        command = [sys.executable, "-m", "printbridge.gateway", "--config", str(self.config)]
        command += ["--socket", str(self.socket), "--group", "root"]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_for(self.socket.exists, what="the gateway socket")
        self.client = Gateway(str(self.socket))

    def call(self, op, **fields):
        return self.client.call(op, **fields)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(scope="session")
def start_gateway(cups_server, tmp_path_factory):
    started = []

    def start(spool: Path) -> GatewayProcess:
        gateway = GatewayProcess(tmp_path_factory.mktemp("gateway"), spool)
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


@pytest.fixture(scope="session")
def gateway(start_gateway, spool_dir):
    return start_gateway(spool_dir)


@pytest.fixture
def make_app(tmp_path, gateway, spool_dir):
    """An app with a fresh state folder (login throttling) and the session's gateway."""
    secret = tmp_path / "secret_key"
    secret.write_text(secrets.token_hex(32))
    secret.chmod(0o600)

    def make(**overrides):
        config = {
            "gateway_socket": str(gateway.socket),
            "secret_key_file": str(secret),
            "spool_dir": str(spool_dir),
            "state_dir": str(tmp_path),
            "max_pages": 20,
            "max_upload_mb": 2,
            "login_max_attempts": 3,
            "mail_domain": "office.test",
        }
        config.update(overrides)
        app = create_app(config)
        app.testing = True
        return app

    return make


class Browser:
    """The Flask test client as a browser on https, with CSRF tokens taken from the pages."""

    TOKEN = re.compile(r'name="csrf-token" content="([^"]+)"')

    def __init__(self, app) -> None:
        self.app = app
        self.client = app.test_client()
        self.client.environ_base.update(HTTP_REFERER=f"{BASE}/", REMOTE_ADDR="10.0.0.1")

    def get(self, path, **kwargs):
        return self.client.get(path, base_url=BASE, **kwargs)

    def post(self, path, data=None, csrf=True, **kwargs):
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.token())
        return self.client.post(path, base_url=BASE, data=data, **kwargs)

    def api(self, method, path, csrf=True, **kwargs):
        headers = kwargs.pop("headers", {})
        if csrf and method != "GET":
            headers["X-CSRFToken"] = self.token()
        return self.client.open(path, method=method, base_url=BASE, headers=headers, **kwargs)

    def token(self) -> str:
        page = self.get("/guide")
        return self.TOKEN.search(page.get_data(as_text=True)).group(1)

    @property
    def user(self):
        with self.client.session_transaction(base_url=BASE) as session:
            return session.get("user")

    def login(self, name, password, **extra):
        return self.post("/login", {"username": name, "password": password, **extra})


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def browser(app):
    return Browser(app)


@pytest.fixture
def login(app, users):
    """A browser signed in as the given user."""

    def signed_in(name):
        browser = Browser(app)
        response = browser.login(name, users[name])
        assert response.status_code == 302, response.get_data(as_text=True)
        return browser

    return signed_in


@pytest.fixture
def pdf_file(tmp_path):
    """Write a PDF made with pikepdf: pages, and optional tweaks (encryption, JavaScript, padding)."""

    def make(pages=1, name="doc.pdf", encrypt=False, javascript=False, padding=0):
        pdf = pikepdf.new()
        for _ in range(pages):
            pdf.add_blank_page(page_size=(595, 842))
        if javascript:
            action = pdf.make_indirect(pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert(1)")))
            pdf.Root.OpenAction = action
            pdf.Root.Names = pikepdf.Dictionary(
                JavaScript=pikepdf.Dictionary(Names=pikepdf.Array([pikepdf.String("x"), action]))
            )
            if pages:
                pdf.pages[0].obj.AA = pikepdf.Dictionary(O=action)
        if padding:
            # Random bytes do not compress: the file really is this large.
            pdf.Root.Padding = pdf.make_stream(os.urandom(padding))
        path = tmp_path / name
        kwargs = {"encryption": pikepdf.Encryption(user="secret", owner="owner")} if encrypt else {}
        pdf.save(path, **kwargs)
        return path

    return make


def upload(browser, path, filename=None, api=False):
    with path.open("rb") as handle:
        data = {"files": (handle, filename or path.name)}
        if api:
            return browser.api("POST", "/api/v1/uploads", data=data, content_type="multipart/form-data")
        return browser.post("/print/upload", data, content_type="multipart/form-data")


def session_uploads(browser):
    with browser.client.session_transaction(base_url=BASE) as session:
        return dict(session.get("uploads", {}))


def wait_job(gateway, user, job_id, states, timeout=90):
    """Poll CUPS (as the user, through the gateway) until the job reaches one of the states."""

    def state():
        for job in gateway.call("jobs", user=user, which="all", all_users=True):
            if job["id"] == job_id and job["state"] in states:
                return job
        return None

    return wait_for(state, timeout=timeout, interval=0.5, what=f"job {job_id} to be {states}")


def print_pdf(browser, path, printer=QUEUE, **options):
    """Upload a document and print it through the API; return the job id."""
    response = upload(browser, path, api=True)
    assert response.status_code == 201, response.get_json()
    token = response.get_json()["uploads"][0]["token"]
    response = browser.api("POST", "/api/v1/jobs", json={"upload": token, "printer": printer, "options": options})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["job_id"]


@pytest.fixture
def clean_queues(cups_server):
    """Leave no unfinished job behind (a test that fails halfway must not block the next)."""
    yield
    for queue in (QUEUE, PARKED):
        subprocess.run(["cancel", "-a", "-x", queue], capture_output=True, check=False)
    run("cupsenable", QUEUE)
    run("cupsaccept", QUEUE)
    run("cupsaccept", PARKED)
