"""bench/web's client side, run in the office PC's network namespace (stdlib only).

  web_load.py measure SERVER PRINTER PDF REQUESTS CONCURRENCY REPEATS   (password in $BENCH_PASSWORD)
      signs in, loads each target with a fixed number of requests, then times
      upload->queued through the app and through CUPS (IPPS); JSON on stdout.
  web_load.py report MEASURED_JSON LP_MICROSECONDS MEMORY_TSV
      prints the figures.

Every request has a timeout and every loop a fixed count: it stops by itself."""

from __future__ import annotations

import http.client
import json
import os
import re
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

TIMEOUT = 30
WARMUP = 8
# CUPS's and the app's certificates are self-signed on the bench server.
TLS = ssl.create_default_context()
TLS.check_hostname = False
TLS.verify_mode = ssl.CERT_NONE


class Client:
    """One browser-like client: one keep-alive TLS connection and its own cookies."""

    def __init__(self, host: str, port: int, cookies: dict[str, str] | None = None) -> None:
        self.host, self.port = host, port
        self.cookies = dict(cookies or {})
        self.conn: http.client.HTTPSConnection | None = None

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        sent = {"Host": self.host, **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection(self.host, self.port, timeout=TIMEOUT, context=TLS)
            try:
                self.conn.request(method, path, body=body, headers=sent)
                response = self.conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # The server closed an idle keep-alive connection: reconnect once.
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                continue
            for header in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
            if response.will_close:
                self.conn.close()
                self.conn = None
            return response.status, data
        raise AssertionError("unreachable")


def sign_in(server: str, user: str, password: str) -> tuple[Client, str]:
    """The login form with its CSRF token, then the API's CSRF token for unsafe requests."""
    client = Client(server, 443)
    status, page = client.request("GET", "/login")
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page)
    if status != 200 or token is None:
        sys.exit(f"GET /login answered {status} without a CSRF token")
    form = urllib.parse.urlencode(
        {"csrf_token": token.group(1).decode(), "next": "", "username": user, "password": password}
    ).encode()
    status, _ = client.request(
        "POST",
        "/login",
        form,
        {"Content-Type": "application/x-www-form-urlencoded", "Referer": f"https://{server}/login"},
    )
    if status != 302:
        sys.exit(f"signing in answered {status}, not a redirect")
    status, me = client.request("GET", "/api/v1/me")
    if status != 200:
        sys.exit(f"GET /api/v1/me answered {status} after signing in")
    return client, json.loads(me)["csrf_token"]


def load(host: str, port: int, path: str, cookies: dict[str, str], requests: int, concurrency: int) -> dict[str, Any]:
    """REQUESTS GETs of PATH from CONCURRENCY clients (each on its own keep-alive connection)."""
    clients = [Client(host, port, cookies) for _ in range(concurrency)]
    for n in range(WARMUP):
        clients[n % concurrency].request("GET", path)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    sizes: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()
    left = iter(range(requests))

    def worker(client: Client) -> None:
        while True:
            with lock:
                if next(left, None) is None:
                    return
            start = time.perf_counter()
            try:
                status, data = client.request("GET", path)
            except OSError as error:
                with lock:
                    errors.append(repr(error))
                client.conn = None
                continue
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1
                sizes.append(len(data))

    threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    _, sample = clients[0].request("GET", path)
    return {
        "latencies": latencies,
        "wall": wall,
        "statuses": statuses,
        "errors": errors[:3],
        "error_count": len(errors),
        "bytes": statistics.median(sizes) if sizes else 0,
        "rows": len(re.findall(rb"<tr[ >]", sample, re.IGNORECASE)) if b"<html" in sample.lower() else None,
        "json_items": len(json.loads(sample)) if path.startswith("/api/") and sample.startswith(b"[") else None,
    }


def upload_and_submit(client: Client, server: str, csrf: str, printer: str, pdf: bytes) -> float:
    """Upload through the app, then print the upload: seconds until CUPS answered with a job id."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="bench.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + pdf
        + f"\r\n--{boundary}--\r\n".encode()
    )
    unsafe = {"X-CSRFToken": csrf, "Referer": f"https://{server}/print"}
    start = time.perf_counter()
    status, answer = client.request(
        "POST", "/api/v1/uploads", body, {**unsafe, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    if status != 201:
        sys.exit(f"POST /api/v1/uploads answered {status}: {answer[:300]!r}")
    token = json.loads(answer)["uploads"][0]["token"]
    status, answer = client.request(
        "POST",
        "/api/v1/jobs",
        json.dumps({"upload": token, "printer": printer}).encode(),
        {**unsafe, "Content-Type": "application/json"},
    )
    elapsed = time.perf_counter() - start
    if status != 201 or not json.loads(answer).get("job_id"):
        sys.exit(f"POST /api/v1/jobs answered {status}: {answer[:300]!r}")
    return elapsed


def ipp_submit(uri: str, test: Path) -> float:
    """What a desktop does when it prints to the appliance's queue: IPPS Print-Job with the user's password."""
    start = time.perf_counter()
    done = subprocess.run(["ipptool", "-T", str(TIMEOUT), uri, str(test)], capture_output=True, timeout=TIMEOUT * 2)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit("ipptool Print-Job failed:\n" + done.stdout.decode().replace(uri, "ipps://...")[-1500:])
    return elapsed


def measure(server: str, printer: str, pdf_path: str, requests: int, concurrency: int, repeats: int) -> None:
    password = os.environ["BENCH_PASSWORD"]
    client, csrf = sign_in(server, "bench", password)
    targets = [
        ("app  /healthz", 443, "/healthz", {}),
        ("app  /jobs (status page)", 443, "/jobs", client.cookies),
        ("app  /jobs/history", 443, "/jobs/history", client.cookies),
        ("app  /api/v1/jobs?which=all", 443, "/api/v1/jobs?which=all", client.cookies),
        ("CUPS /jobs?which_jobs=all", 631, "/jobs?which_jobs=all", {}),
    ]
    results: dict[str, Any] = {"requests": requests, "concurrency": concurrency, "load": {}}
    for name, port, path, cookies in targets:
        results["load"][name] = load(server, port, path, cookies, requests, concurrency)

    pdf = Path(pdf_path).read_bytes()
    with tempfile.TemporaryDirectory() as folder:
        test = Path(folder) / "print.test"
        test.write_text(f"""{{
  NAME "Print-Job"
  OPERATION Print-Job
  GROUP operation-attributes-tag
  ATTR charset attributes-charset utf-8
  ATTR naturalLanguage attributes-natural-language en
  ATTR uri printer-uri $uri
  ATTR name requesting-user-name bench
  ATTR mimeMediaType document-format application/pdf
  ATTR name job-name "bench.pdf"
  FILE {pdf_path}
  STATUS successful-ok
  EXPECT job-id OF-TYPE integer WITH-VALUE >0
}}
""")
        uri = f"ipps://bench:{urllib.parse.quote(password, safe='')}@{server}:631/printers/{printer}"
        app, ipp = [], []
        # Alternating, so both paths see the same queue and printer state.
        for _ in range(repeats):
            app.append(upload_and_submit(client, server, csrf, printer, pdf))
            ipp.append(ipp_submit(uri, test))
    results["upload"] = {"app": app, "ipp": ipp}
    json.dump(results, sys.stdout)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f}"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def report(measured_path: str, lp_path: str, memory_path: str) -> None:
    measured = json.loads(Path(measured_path).read_text())
    print(f"load: {measured['requests']} GETs per target, {measured['concurrency']} keep-alive TLS clients")
    print(f"{'target':32} {'p50 ms':>7} {'p95 ms':>7} {'req/s':>7}  {'p50 vs CUPS':>11}  {'size':>7}  shown")
    cups = measured["load"]["CUPS /jobs?which_jobs=all"]
    cups_p50 = statistics.median(cups["latencies"])
    for name, figures in measured["load"].items():
        lat = figures["latencies"]
        if not lat:
            print(f"{name:32} no answers: {figures['errors']}")
            continue
        p50, p95 = statistics.median(lat), percentile(lat, 0.95)
        shown = f"{figures['json_items']} jobs" if figures["json_items"] is not None else ""
        shown = f"{figures['rows']} table rows" if figures["rows"] is not None else shown
        odd = {s: n for s, n in figures["statuses"].items() if str(s) != "200"}
        notes = (f"  statuses {odd}" if odd else "") + (
            f"  {figures['error_count']} errors {figures['errors']}" if figures["error_count"] else ""
        )
        print(
            f"{name:32} {ms(p50)} {ms(p95)} {len(lat) / figures['wall']:7.1f}  {p50 / cups_p50:10.2f}x"
            f"  {figures['bytes'] / 1024:5.1f}KB  {shown}{notes}"
        )

    app, ipp = measured["upload"]["app"], measured["upload"]["ipp"]
    lp = [int(line) / 1e6 for line in Path(lp_path).read_text().split()]
    app_median = statistics.median(app)
    print(f"upload->queued (one-page PDF, median of {len(app)}; ends when CUPS has answered with a job id):")
    print(f"  app, office PC (HTTPS upload + submit): {ms(app_median)} ms")
    print(
        f"  IPPS Print-Job, office PC (password):   {ms(statistics.median(ipp))} ms"
        f"   app {app_median / statistics.median(ipp):.2f}x"
    )
    print(
        f"  lp on the server (local socket):        {ms(statistics.median(lp))} ms"
        f"   app {app_median / statistics.median(lp):.2f}x"
    )

    print("resident memory after the load (MB; PSS shares libraries fairly between processes):")
    units: dict[str, list[tuple[float, float, str]]] = {}
    for line in Path(memory_path).read_text().splitlines():
        unit, _pid, rss, pss, command = line.split("\t", 4)
        units.setdefault(unit, []).append((int(rss) / 1024, int(pss or 0) / 1024, command))
    for unit, processes in units.items():
        rss = sum(p[0] for p in processes)
        pss = sum(p[1] for p in processes)
        target = "   target <= 60 MB" if unit == "printbridge-web.service" else ""
        print(f"  {unit:28} RSS {rss:5.1f}  PSS {pss:5.1f}  ({len(processes)} processes){target}")
        for p_rss, p_pss, command in processes:
            print(f"    RSS {p_rss:5.1f}  PSS {p_pss:5.1f}  {command[:70]}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["measure"] and len(sys.argv) == 8:
        measure(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]))
    elif sys.argv[1:2] == ["report"] and len(sys.argv) == 5:
        report(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
