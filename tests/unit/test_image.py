"""The pi-gen stage's recipe: config settings, the controller pins, and what
image/build --assemble lays into a pi-gen tree."""

import os
import re
import shlex
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STAGE = ROOT / "image" / "stage-printbridge"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBuildKeyForTheUnitTest0000000000000000 it@example.org"


def config(path):
    """The NAME=value settings of a pi-gen config (shell words unquoted)."""
    settings = {}
    for line in path.read_text().splitlines():
        if match := re.match(r"^([A-Z_0-9]+)=(.*)$", line):
            settings[match[1]] = " ".join(shlex.split(match[2]))
    return settings


def test_config_is_the_issues_recipe():
    settings = config(ROOT / "image" / "config")
    assert settings["RELEASE"] == "trixie"
    assert settings["ARCH"] == "arm64"
    assert settings["DEPLOY_COMPRESSION"] == "xz"
    assert settings["DISABLE_FIRST_BOOT_USER_RENAME"] == "1"
    assert settings["ENABLE_SSH"] == "1"
    assert settings["PUBKEY_ONLY_SSH"] == "1"
    assert settings["IMG_NAME"]
    assert settings["STAGE_LIST"] == "stage0 stage1 stage2 stage-printbridge"
    # No password and no key in the repository: both come from the build.
    assert "FIRST_USER_PASS" not in settings
    assert "PUBKEY_SSH_FIRST_USER" not in settings


def test_stage_layout():
    assert os.access(STAGE / "prerun.sh", os.X_OK)
    assert "copy_previous" in (STAGE / "prerun.sh").read_text()
    assert (STAGE / "EXPORT_IMAGE").is_file()
    assert os.access(STAGE / "00-printbridge" / "00-run.sh", os.X_OK)


def test_controller_pins_follow_pyproject():
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    wanted = {pin for pin in dev if re.match(r"ansible(-core)?[<>=]", pin)}
    run = (STAGE / "00-printbridge" / "00-run.sh").read_text()
    pins = set(re.findall(r'"(ansible(?:-core)?[<>=][^"]*)"', run.split("ANSIBLE_PINS=(", 1)[1].split(")", 1)[0]))
    assert pins == wanted


def assemble(tmp_path, **env):
    return subprocess.run(
        [ROOT / "image" / "build", "--assemble", tmp_path / "pi-gen"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_assemble_lays_out_the_stage(tmp_path):
    result = assemble(tmp_path, PRINTBRIDGE_ADMIN_KEY=KEY)
    assert result.returncode == 0, result.stderr
    pigen = tmp_path / "pi-gen"
    files = pigen / "stage-printbridge" / "00-printbridge" / "files"
    for part in ("ansible.cfg", "playbooks/site.yml", "roles/base", "inventory/image/hosts.yml", "src/printbridge"):
        assert (files / "printbridge" / part).exists(), part
    assert config(files / "build.env")["PRINTBRIDGE_ADMIN_KEY"] == KEY
    settings = config(pigen / "config")
    assert settings["PUBKEY_SSH_FIRST_USER"] == KEY
    assert len(settings["FIRST_USER_PASS"]) >= 32
    assert (pigen / "config").stat().st_mode & 0o077 == 0
    # A throwaway password: another build gets another one.
    assert assemble(tmp_path, PRINTBRIDGE_ADMIN_KEY=KEY).returncode == 0
    assert config(pigen / "config")["FIRST_USER_PASS"] != settings["FIRST_USER_PASS"]


def test_assemble_wants_the_admin_key(tmp_path):
    result = assemble(tmp_path, PRINTBRIDGE_ADMIN_KEY="")
    assert result.returncode != 0
    assert "PRINTBRIDGE_ADMIN_KEY" in result.stderr
