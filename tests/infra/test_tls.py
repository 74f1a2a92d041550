"""The host's certificate as deployed by the tls role: files, names, chain, the same certificate on
443 (nginx) and 631 (cupsd), modern TLS only from tls_min_version on (testssl.sh finds nothing MEDIUM or
worse), the daily expiry check."""

import json
import os
import re
import shlex
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from conftest import IMAGE, in_office, verify_certificate

ROOT = Path(__file__).resolve().parents[2]
CERTIFICATE = "/etc/printbridge/tls/host.crt"
KEY = "/etc/printbridge/tls/host.key"
PORTS = [443, 631]
# openssl s_client's option that offers only that version.
OPENSSL_VERSIONS = {"1.0": "-tls1", "1.1": "-tls1_1", "1.2": "-tls1_2", "1.3": "-tls1_3"}
# A chroot has no address of its own: an image's certificate names only the host.
PEM = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


@pytest.fixture
def site_ca(lab_state):
    """The lab's site CA (molecule's group_vars keep it in the lab state directory)."""
    return lab_state / "ca" / "ca.crt"


@pytest.fixture
def min_version(hostvars):
    """The oldest TLS version the host accepts, "1.2" or "1.3" (inventory, else the tls role's default)."""
    defaults = yaml.safe_load((ROOT / "roles/tls/defaults/main.yml").read_text())
    return str(hostvars.get("tls_min_version", defaults["tls_min_version"]))


@pytest.fixture
def cups_names(hostvars):
    """Names cupsd has the certificate under: the host name and the FQDN (in molecule's group_vars also
    the ServerAlias; cupsd's choice for a client that connected by address)."""
    return [hostvars["inventory_hostname"], f"{hostvars['inventory_hostname']}.{hostvars['base_domain']}"]


def handshake(address, port, *options, ca=None):
    """A TLS handshake from the office PC; options such as -tls1_2 or -cipher. The client allows old
    protocols (SECLEVEL 0), so that a refusal is the server's."""
    command = ["openssl", "s_client", "-connect", f"{address}:{port}", "-showcerts", *options]
    if ca:
        command += ["-CAfile", str(ca), "-verify_return_error"]
    if not any(option.startswith("-cipher") or option == "-tls1_3" for option in options):
        command += ["-cipher", "DEFAULT@SECLEVEL=0"]
    return in_office(*command, input="", timeout=30)


@pytest.mark.parametrize(
    ("path", "mode"),
    [(CERTIFICATE, 0o644), (KEY, 0o600)],
)
def test_certificate_and_key_files(host, path, mode):
    f = host.file(path)
    assert (f.user, f.group, f.mode) == ("root", "root", mode)


def test_cupsd_has_the_certificate_under_every_name(host, cups_names):
    certificate = host.file(CERTIFICATE).content_string
    for name in cups_names:
        assert host.file(f"/etc/cups/ssl/{name}.crt").content_string == certificate, name
        key = host.file(f"/etc/cups/ssl/{name}.key")
        assert (key.user, key.group, key.mode) == ("root", "root", 0o600), name


def test_certificate_names_the_host(host, hostvars):
    names = host.check_output(f"openssl x509 -in {CERTIFICATE} -noout -ext subjectAltName")
    assert f"DNS:{hostvars['inventory_hostname']}" in names
    if not IMAGE:
        assert f"DNS:{hostvars['inventory_hostname']}.{hostvars['base_domain']}" in names
        assert f"IP Address:{hostvars['ansible_host']}" in names


def test_certificate_chains_to_the_site_ca(host, site_ca, tmp_path):
    leaf = tmp_path / "host.crt"
    leaf.write_text(host.file(CERTIFICATE).content_string)
    result = verify_certificate(site_ca, leaf)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("port", PORTS)
def test_nginx_and_cupsd_serve_the_host_certificate_trusted_by_the_site_ca(host, hostvars, site_ca, port):
    address = hostvars["ansible_host"]
    name = ["-verify_hostname", hostvars["inventory_hostname"]] + ([] if IMAGE else ["-verify_ip", address])
    result = handshake(address, port, *name, ca=site_ca)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert "Verify return code: 0 (ok)" in result.stdout
    served = PEM.findall(result.stdout)
    assert served == PEM.findall(host.file(CERTIFICATE).content_string), "the same certificate, with its chain"


@pytest.mark.parametrize("port", PORTS)
@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2", "1.3"])
def test_only_tls_min_version_and_newer(hostvars, min_version, port, version):
    """Exactly the versions from tls_min_version on (1.2 or 1.3) are accepted, each offered alone."""
    result = handshake(hostvars["ansible_host"], port, OPENSSL_VERSIONS[version])
    assert "no protocols available" not in result.stderr, "the client must offer the version"
    assert (result.returncode == 0) == (float(version) >= float(min_version)), result.stderr


@pytest.mark.parametrize("port", PORTS)
def test_cbc_suites_refused(hostvars, port):
    # On a TLS 1.3-only host this is refused for the version already; TLS 1.3 has no CBC suites.
    cbc = "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA:ECDHE-ECDSA-AES128-SHA"
    result = handshake(hostvars["ansible_host"], port, "-tls1_2", "-cipher", cbc)
    assert result.returncode != 0


# Findings testssl.sh rates MEDIUM or worse that do not apply here, and why.
NOT_APPLICABLE = {
    # A site CA on the controller has no CRL or OCSP service to name: a host's key never leaves the
    # host, and a lost host is dealt with by replacing the site's certificates (docs/tls.md).
    "cert_revocation",
    # testssl.sh 3.0 (Debian's) wants a server cipher order even when every suite offered is strong;
    # 3.2 rates that INFO (testssl.sh PR 2235, Mozilla's guidance). Only AEAD suites with forward
    # secrecy are offered here (test_cbc_suites_refused; testssl.sh flags anything weaker itself).
    "cipher_order",
}
# A known gap of hosts at tls_min_version 1.2, allowed but not required (testssl.sh finds it in some
# runs and not in others, on both suites): cupsd (CUPS 2.4 on GnuTLS) goes along with a renegotiation
# the client starts, a denial-of-service lever. CUPS offers no setting for it; nginx refuses it; TLS 1.3
# has no renegotiation, so a host at 1.3 is allowed nothing (docs/tls.md, "Known gap").
KNOWN_GAPS = {"1.2": {631: {"secure_client_renego"}}}


# testssl.sh's reports per host: both ports are scanned at once (each scan mostly waits on handshakes).
SCANS: dict[str, dict[int, tuple[subprocess.CompletedProcess, list]]] = {}


def scan_tls(hostvars, site_ca, directory, port):
    report = directory / f"testssl-{hostvars['inventory_hostname']}-{port}.json"
    # The host's name as the URI (it is in every certificate), its address with --ip; no DNS lookups
    # leave the lab.
    result = in_office(
        *("testssl", "--quiet", "--warnings", "off", "--color", "0", "--nodns", "none"),
        *("--add-ca", str(site_ca), "--severity", "MEDIUM", "--jsonfile", str(report)),
        *("--ip", hostvars["ansible_host"], f"{hostvars['inventory_hostname']}:{port}"),
        timeout=1800,
    )
    return result, json.loads(report.read_text()) if report.exists() else []


@pytest.mark.default_only
@pytest.mark.parametrize("port", PORTS)
def test_testssl_finds_nothing_medium_or_worse(hostvars, min_version, site_ca, artifacts, tmp_path_factory, port):
    name = hostvars["inventory_hostname"]
    if name not in SCANS:
        directory = tmp_path_factory.mktemp("testssl")
        with ThreadPoolExecutor(len(PORTS)) as pool:
            scans = pool.map(lambda p: scan_tls(hostvars, site_ca, directory, p), PORTS)
            SCANS[name] = dict(zip(PORTS, scans, strict=True))
    result, findings = SCANS[name][port]
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / f"testssl-{name}-{port}.json").write_text(json.dumps(findings, indent=1))
    # It did scan the service to the end: protocols offered (TLS 1.2 only from a 1.2 minimum), and its
    # closing line.
    tls12 = "offered" if min_version == "1.2" else "not offered"
    assert re.search(rf"^ TLS 1\.2 +{tls12}", result.stdout, re.M), result.stdout[-3000:] + result.stderr
    assert re.search(r"^ TLS 1\.3 +offered", result.stdout, re.M), result.stdout[-3000:]
    assert re.search(rf"^ Done .* -->> [0-9.]+:{port} ", result.stdout, re.M), result.stdout[-3000:]
    bad = [f for f in findings if f["severity"] in ("MEDIUM", "HIGH", "CRITICAL") and f["id"] not in NOT_APPLICABLE]
    unexpected = [f for f in bad if f["id"] not in KNOWN_GAPS.get(min_version, {}).get(port, set())]
    assert not unexpected, f"{json.dumps(unexpected, indent=1)}\n{result.stdout[-3000:]}"


def test_expiry_check_runs_daily(host):
    timer = host.service("printbridge-tls-check.timer")
    assert timer.is_enabled
    assert timer.is_running
    # Run it now: a booted image has not reached its first run yet.
    host.check_output("systemctl start printbridge-tls-check.service")
    state = json.loads(host.file("/var/lib/printbridge-tls/status.json").content_string)
    assert state["status"] == "ok"
    assert state["certificate"] == CERTIFICATE


def test_expiry_check_warns_about_a_certificate_that_expires_soon(host):
    """A certificate valid for two more days, checked with the service's 30-day window, under systemd
    as the timer runs it: a warning in the journal and in the state file."""
    work = host.check_output("mktemp -d")
    try:
        host.check_output(
            f"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=soon -days 2 "
            f"-keyout {work}/soon.key -out {work}/soon.crt 2>/dev/null"
        )
        unit = f"printbridge-tls-check-test-{os.getpid()}"
        check = f"/usr/local/sbin/printbridge-tls-check {work}/soon.crt 30 {work}/status.json"
        assert host.run(f"systemd-run --quiet --wait --unit={unit} {check}").rc == 0
        state = json.loads(host.file(f"{work}/status.json").content_string)
        assert state["status"] == "expiring"
        journal = host.check_output(f"journalctl --quiet -u {unit} -p warning -o cat")
        assert f"{work}/soon.crt expires within 30 days" in journal
        # An expired or unreadable certificate fails the unit.
        assert host.run(f"/usr/local/sbin/printbridge-tls-check {work}/missing.crt 30 {work}/status.json").rc == 1
        assert json.loads(host.file(f"{work}/status.json").content_string)["status"] == "unreadable"
    finally:
        host.run(f"rm -rf {shlex.quote(work)}")
