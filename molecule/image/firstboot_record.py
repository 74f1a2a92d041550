"""What the image scenario records on the controller for tests/infra/test_firstboot.py, at the moments
the checks cannot see any more when molecule verify runs (the host is re-converged by then):

  tree HOST STAGE       per-device state in the host's root filesystem (STAGE: converged, finalized)
  booted HOST           the device right after its first boot: names, keys, certificates served
  reconverge HOST       an admin's first site.yml run over SSH against the booted device: changed tasks

Everything goes to $PB_LAB_STATE/firstboot/HOST.json, one section per command.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness import hosts
from harness.settings import Settings, load

CERTIFICATE = "/etc/printbridge/tls/host.crt"
KEY = "/etc/printbridge/tls/host.key"
SECRET = "/var/lib/printbridge-web/secret_key"
PROJECT = Path(__file__).resolve().parents[2]


def digest(data: bytes | None) -> str | None:
    return hashlib.sha256(data).hexdigest() if data is not None else None


def read(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def fingerprint(public_key: str) -> str:
    """ssh-keygen's SHA256 fingerprint of a public key file's contents."""
    shown = subprocess.run(
        ["ssh-keygen", "-l", "-f", "-"], input=public_key, capture_output=True, text=True, check=True
    )
    return shown.stdout.split()[1]


def tree(settings: Settings, host: hosts.Host) -> dict[str, Any]:
    root = host.paths(settings)["root"]
    machine_id = read(root / "etc/machine-id")
    ssh = root / "etc/ssh"
    return {
        "ssh_host_keys": {p.name: fingerprint(p.read_text()) for p in sorted(ssh.glob("ssh_host_*.pub"))},
        "ssh_private_keys": sorted(p.name for p in ssh.glob("ssh_host_*_key")),
        "machine_id": machine_id.decode().strip() if machine_id is not None else None,
        "dbus_machine_id": (root / "var/lib/dbus/machine-id").exists(),
        "tls_certificate": digest(read(root / CERTIFICATE.lstrip("/"))),
        "tls_key": digest(read(root / KEY.lstrip("/"))),
        "cups_keychain": sorted(p.name for p in (root / "etc/cups/ssl").glob("*")),
        "secret_key": digest(read(root / SECRET.lstrip("/"))),
        "build_machine_id": Path("/etc/machine-id").read_text().strip(),
    }


def on_host(settings: Settings, host: hosts.Host, command: str) -> str:
    result = hosts.ssh(settings, host, command)
    if result.returncode != 0:
        raise SystemExit(f"{host.name}: {command!r} failed: {result.stderr}")
    return result.stdout


def served_certificate(address: str, port: int) -> str | None:
    """The leaf certificate a TLS server sends, as PEM (from this machine, inside the office networks)."""
    shown = subprocess.run(
        ["openssl", "s_client", "-connect", f"{address}:{port}"],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    leaf = subprocess.run(["openssl", "x509"], input=shown.stdout, capture_output=True, text=True, check=False)
    return leaf.stdout or None


def booted(settings: Settings, host: hosts.Host) -> dict[str, Any]:
    keys = on_host(settings, host, "for k in /etc/ssh/ssh_host_*_key.pub; do ssh-keygen -l -f $k; done")
    return {
        "hostname": on_host(settings, host, "hostname").strip(),
        "etc_hostname": on_host(settings, host, "cat /etc/hostname").strip(),
        # From netlink: in the lab, /sys/class/net shows this machine's interfaces, not the container's.
        "mac": on_host(settings, host, "ip -o link show eth0").split("link/ether ")[1].split()[0],
        "ssh_host_keys": [line.split()[1] for line in keys.splitlines()],
        "tls_certificate": on_host(settings, host, f"cat {CERTIFICATE}"),
        "served": {str(port): served_certificate(host.address, port) for port in (443, 631)},
    }


def reconverge(settings: Settings, host: hosts.Host) -> dict[str, Any]:
    """site.yml over SSH as an admin runs it, through molecule's inventory (the booted hosts by now)."""
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1")
    inventory = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(inventory),
            "--limit",
            host.name,
            str(PROJECT / "molecule/resources/converge.yml"),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if run.returncode != 0:
        print(run.stdout[-5000:], run.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"the re-converge of {host.name} failed ({run.returncode})")
    report = json.loads(run.stdout[run.stdout.index("{") :])
    changed = []
    for play in report["plays"]:
        for task in play["tasks"]:
            result = task["hosts"].get(host.name)
            if result and result.get("changed"):
                changed.append(task["task"]["name"])
    return {"changed": changed, "stats": report["stats"][host.name]}


def main() -> None:
    command, name, *rest = sys.argv[1:]
    settings = load()
    host = hosts.load(settings, name)
    if host is None:
        raise SystemExit(f"no lab host {name}")
    record_file = settings.state_dir / "firstboot" / f"{name}.json"
    record_file.parent.mkdir(mode=0o700, exist_ok=True)
    # The first record of a run (the converged tree) starts a new file.
    fresh = rest == ["converged"] or not record_file.exists()
    record = {} if fresh else json.loads(record_file.read_text())
    if command == "tree":
        record[f"tree_{rest[0]}"] = tree(settings, host)
    elif command == "booted":
        record["booted"] = booted(settings, host)
    elif command == "reconverge":
        record["reconverge"] = reconverge(settings, host)
    else:
        raise SystemExit(f"unknown command {command}")
    record_file.write_text(json.dumps(record, indent=2))
    print(json.dumps(record[next(reversed(record))])[:2000])


if __name__ == "__main__":
    main()
