#!/usr/bin/python3
"""printbridge-queues: keep CUPS queues as configured, and keep them printing.

  apply [--check]   make queues, classes and the default match the configuration
                    (prints the changes as JSON; with --check only reports them)
  watch             one watchdog pass: re-enable stopped queues, retry or cancel
                    jobs stuck in processing (run by printbridge-watchdog.timer)
  status            queues, their state in plain words, and unfinished jobs
  clear QUEUE       cancel every job on a queue
  resume QUEUE      enable a queue and let it accept jobs again

The configuration (/etc/printbridge/queues.json) is written by Ansible. Queues
this tool created and that left the configuration are deleted; queues made
by hand are left alone.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cups

CONFIG = Path("/etc/printbridge/queues.json")
STATE = Path("/var/lib/printbridge/queues-state.json")
IPP_PRINTER_STOPPED = 5
IPP_JOB_PROCESSING = 5
STATES = {3: "idle", 4: "printing", 5: "stopped"}
JOB_STATES = {3: "pending", 4: "held", 5: "processing", 6: "stopped", 7: "cancelled", 8: "aborted", 9: "completed"}
# IPP attribute, configuration key, pycups setter of settings only queues have.
QUEUE_SETTINGS = (
    ("device-uri", "device_uri", "setPrinterDevice"),
    ("printer-error-policy", "error_policy", "setPrinterErrorPolicy"),
    ("printer-op-policy", "op_policy", "setPrinterOpPolicy"),
)
ATTRIBUTES = [
    "device-uri",
    "printer-info",
    "printer-location",
    "printer-is-shared",
    "printer-error-policy",
    "printer-op-policy",
    "requesting-user-name-allowed",
    "printer-is-accepting-jobs",
    "printer-state",
]


def say(message: str) -> None:
    """One line to the journal (stdout of the systemd unit) or the terminal."""
    print(message, file=sys.stderr, flush=True)


def connect(timeout: float = 60) -> cups.Connection:
    """Connect to the local cupsd, waiting while it starts (at boot it may not be up yet)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return cups.Connection()
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class Reconciler:
    """Compare what cupsd has with the configuration and close the gap."""

    def __init__(self, conn: cups.Connection, config: dict[str, Any], state: dict[str, Any], check: bool) -> None:
        self.conn = conn
        self.config = config
        self.state = state
        self.check = check
        self.changes: list[str] = []
        self.failed: list[str] = []

    def change(self, what: str, action: Any, *args: Any) -> None:
        if not self.check:
            action(*args)
        self.changes.append(what)

    def attempt(self, name: str, step: Any, *args: Any) -> None:
        """Run one queue's or class's step; one unreachable printer must not
        keep the others from being set up."""
        try:
            step(*args)
        except (cups.IPPError, ValueError) as error:
            self.failed.append(f"{name}: {error}")

    def attributes(self, name: str) -> dict[str, Any]:
        return self.conn.getPrinterAttributes(name, requested_attributes=ATTRIBUTES)

    def run(self) -> list[str]:
        wanted_printers = {p["name"]: p for p in self.config["printers"]}
        wanted_classes = {c["name"]: c for c in self.config["classes"]}
        existing_classes = self.conn.getClasses()
        for name in self.state.get("classes", []):
            if name not in wanted_classes and name in existing_classes:
                self.change(f"delete class {name}", self.conn.deleteClass, name)
        existing = self.conn.getPrinters()
        for name in self.state.get("printers", []):
            if name not in wanted_printers and name in existing and name not in existing_classes:
                self.change(f"delete queue {name}", self.conn.deletePrinter, name)
        for printer in wanted_printers.values():
            self.attempt(printer["name"], self.printer, printer, existing)
        existing_classes = self.conn.getClasses() if not self.check else existing_classes
        for klass in wanted_classes.values():
            self.attempt(klass["name"], self.klass, klass, existing_classes)
        default = self.config.get("default") or None
        if default and self.conn.getDefault() != default:
            self.change(f"set default {default}", self.conn.setDefault, default)
        if not self.check:
            self.state["printers"] = sorted(wanted_printers)
            self.state["classes"] = sorted(wanted_classes)
        return self.changes

    def printer(self, printer: dict[str, Any], existing: dict[str, Any]) -> None:
        name = printer["name"]
        driver = str(Path(self.config["ppd_dir"]) / printer["ppd"]) if printer["driver"] == "ppd" else "everywhere"
        fingerprint = digest(driver) if printer["driver"] == "ppd" else "everywhere"
        recorded = self.state.setdefault("drivers", {})
        if name not in existing or recorded.get(name) != fingerprint:
            verb = "add" if name not in existing else "reinstall driver of"
            kwargs = {"filename": driver} if printer["driver"] == "ppd" else {"ppdname": "everywhere"}
            self.change(f"{verb} queue {name}", self.add, name, printer["device_uri"], printer["enabled"], kwargs)
            recorded[name] = fingerprint
            if self.check:
                return
        attrs = self.attributes(name)
        self.common(name, printer, attrs)
        for attribute, key, setter in QUEUE_SETTINGS:
            if attrs.get(attribute) != printer[key]:
                self.change(f"{name}: {key} {printer[key]}", getattr(self.conn, setter), name, printer[key])
        allowed = printer["allowed"] or ["all"]
        current = attrs.get("requesting-user-name-allowed", ["all"])
        if sorted(current if isinstance(current, list) else [current]) != sorted(allowed):
            self.change(f"{name}: allowed {' '.join(allowed)}", self.conn.setPrinterUsersAllowed, name, allowed)
        self.options(name, printer["options"])

    def add(self, name: str, device: str, enabled: bool, kwargs: dict[str, str]) -> None:
        # A driverless queue asks the printer at the bare URI; CUPS's own URI
        # options (?waitjob=..., ?contimeout=...) are set right after.
        self.conn.addPrinter(name, device=device.split("?", 1)[0], **kwargs)
        if enabled:
            resume(self.conn, name)

    def options(self, name: str, options: dict[str, Any]) -> None:
        """Default choices of the queue's driver (PPD) options, e.g. Duplex=DuplexNoTumble.

        They are set in the queue's PPD as lpadmin does: an IPP "-default"
        attribute next to a PPD option would be reported twice."""
        if not options or name not in self.conn.getPrinters():
            return
        path = self.conn.getPPD(name)
        try:
            ppd = cups.PPD(path)
            wrong = {}
            for keyword, choice in sorted(options.items()):
                option = ppd.findOption(keyword)
                choices = [c["choice"] for c in option.choices] if option else []
                if str(choice) not in choices:
                    offered = ", ".join(o.keyword for group in ppd.optionGroups for o in group.options)
                    raise ValueError(
                        f"queue {name}: its driver has no {keyword}={choice} "
                        f"(choices: {', '.join(choices) or 'none'}; options: {offered})"
                    )
                if option.defchoice != str(choice):
                    wrong[keyword] = str(choice)
            if wrong:
                settings = " ".join(f"{k}={v}" for k, v in wrong.items())
                self.change(f"{name}: defaults {settings}", self.set_defaults, name, ppd, wrong)
        finally:
            Path(path).unlink()

    def set_defaults(self, name: str, ppd: cups.PPD, choices: dict[str, str]) -> None:
        ppd.markDefaults()
        for keyword, choice in choices.items():
            ppd.markOption(keyword, choice)
        with tempfile.NamedTemporaryFile("w", suffix=".ppd") as handle:
            ppd.writeFd(handle.fileno())
            handle.flush()
            self.conn.addPrinter(name, filename=handle.name)

    def common(self, name: str, wanted: dict[str, Any], attrs: dict[str, Any]) -> None:
        """What queues and classes share: info, location, sharing, accepting."""
        if attrs.get("printer-info", "") != wanted["description"]:
            self.change(f"{name}: description", self.conn.setPrinterInfo, name, wanted["description"])
        if attrs.get("printer-location", "") != wanted["location"]:
            self.change(f"{name}: location", self.conn.setPrinterLocation, name, wanted["location"])
        if bool(attrs.get("printer-is-shared")) != wanted["shared"]:
            self.change(f"{name}: shared={wanted['shared']}", self.conn.setPrinterShared, name, wanted["shared"])
        enabled = wanted.get("enabled", True)
        if enabled and not attrs.get("printer-is-accepting-jobs"):
            self.change(f"{name}: accept jobs", self.resume_queue, name)
        elif not enabled and (attrs.get("printer-is-accepting-jobs") or attrs["printer-state"] != IPP_PRINTER_STOPPED):
            self.change(f"{name}: disable", self.disable_queue, name)

    def resume_queue(self, name: str) -> None:
        resume(self.conn, name)

    def disable_queue(self, name: str) -> None:
        self.conn.disablePrinter(name)
        self.conn.rejectJobs(name)

    def klass(self, klass: dict[str, Any], existing: dict[str, Any]) -> None:
        name = klass["name"]
        members = set(klass["members"])
        current = set(existing.get(name, []))
        for member in sorted(members - current):
            self.change(f"class {name}: add {member}", self.conn.addPrinterToClass, member, name)
        if name not in existing and not self.check:
            resume(self.conn, name)
        for member in sorted(current - members):
            self.change(f"class {name}: remove {member}", self.conn.deletePrinterFromClass, member, name)
        if self.check and name not in existing:
            return
        self.common(name, klass, self.attributes(name))


def resume(conn: cups.Connection, name: str) -> None:
    """Enable a queue and let it accept jobs."""
    conn.enablePrinter(name)
    conn.acceptJobs(name)


def load_state() -> dict[str, Any]:
    return json.loads(STATE.read_text()) if STATE.exists() else {}


def save_state(state: dict[str, Any]) -> None:
    STATE.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    STATE.write_text(json.dumps(state, indent=2, sort_keys=True))


def apply(check: bool) -> int:
    config = json.loads(CONFIG.read_text())
    state = load_state()
    reconciler = Reconciler(connect(), config, state, check)
    changes = reconciler.run()
    if not check:
        save_state(state)
    for change in changes:
        say(("would " if check else "") + change)
    for failure in reconciler.failed:
        say(f"failed: {failure}")
    print(json.dumps(changes))
    return 1 if reconciler.failed else 0


def queues(conn: cups.Connection) -> dict[str, dict[str, Any]]:
    """Every queue and class with the attributes the watchdog and status need."""
    wanted = ["printer-state", "printer-state-message", "printer-is-accepting-jobs"]
    return {name: conn.getPrinterAttributes(name, requested_attributes=wanted) for name in conn.getPrinters()}


def watch() -> int:
    """One pass of the watchdog; every action is logged."""
    config = json.loads(CONFIG.read_text())
    policy = config["watchdog"]
    enabled = {p["name"] for p in config["printers"] + config["classes"] if p.get("enabled", True)}
    conn = connect()
    for name, attrs in queues(conn).items():
        if name in enabled and attrs["printer-state"] == IPP_PRINTER_STOPPED and attrs["printer-is-accepting-jobs"]:
            conn.enablePrinter(name)
            say(f"watchdog: re-enabled stopped queue {name} ({attrs.get('printer-state-message') or 'no message'})")
    now = time.time()
    jobs = conn.getJobs(which_jobs="not-completed", requested_attributes=["job-state", "time-at-processing"])
    for job_id, job in jobs.items():
        started = job.get("time-at-processing") or now
        if job["job-state"] == IPP_JOB_PROCESSING and now - started > policy["stuck_after"]:
            if policy["action"] == "cancel":
                conn.cancelJob(job_id)
                say(f"watchdog: cancelled job {job_id}, processing for {int(now - started)}s")
            else:
                conn.setJobHoldUntil(job_id, "indefinite")
                conn.setJobHoldUntil(job_id, "no-hold")
                say(f"watchdog: requeued job {job_id}, processing for {int(now - started)}s")
    return 0


def status() -> int:
    conn = connect()
    for name, attrs in sorted(queues(conn).items()):
        accepting = "accepting" if attrs["printer-is-accepting-jobs"] else "rejecting jobs"
        message = attrs.get("printer-state-message") or ""
        print(f"{name}: {STATES.get(attrs['printer-state'], 'unknown')}, {accepting}  {message}".rstrip())
    attrs = ["job-state", "job-printer-uri", "job-originating-user-name", "job-name"]
    for job_id, job in sorted(conn.getJobs(which_jobs="not-completed", requested_attributes=attrs).items()):
        queue = job.get("job-printer-uri", "").rsplit("/", 1)[-1]
        state = JOB_STATES.get(job["job-state"], "unknown")
        print(f"job {job_id} on {queue}: {state} ({job.get('job-originating-user-name', '?')})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="printbridge-queues", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("apply").add_argument("--check", action="store_true")
    sub.add_parser("watch")
    sub.add_parser("status")
    sub.add_parser("clear").add_argument("queue")
    sub.add_parser("resume").add_argument("queue")
    args = parser.parse_args(argv)
    try:
        if args.command == "apply":
            return apply(args.check)
        if args.command == "watch":
            return watch()
        if args.command == "status":
            return status()
        conn = connect()
        if args.command == "clear":
            conn.cancelAllJobs(name=args.queue)
            say(f"cancelled every job on {args.queue}")
        else:
            resume(conn, args.queue)
            say(f"resumed {args.queue}")
    except (cups.IPPError, RuntimeError, OSError, KeyError, ValueError) as error:
        say(f"printbridge-queues {args.command}: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
