"""The shipped PPD: valid, and exactly what its .drv source compiles to."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PPD = ROOT / "files/ppd/pbgenps.ppd"


def test_shipped_ppd_passes_cupstestppd():
    result = subprocess.run(["cupstestppd", "-W", "all", str(PPD)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip().endswith("PASS")


def test_shipped_ppd_is_compiled_from_its_source(tmp_path):
    subprocess.run(["ppdc", "-d", str(tmp_path), str(ROOT / "files/ppd/src/printbridge-generic-ps.drv")], check=True)

    def content(path):
        # The compiler's comment lines name its version and byte count.
        return [line for line in path.read_text(encoding="latin-1").splitlines() if not line.startswith("*%")]

    assert content(tmp_path / "pbgenps.ppd") == content(PPD)
