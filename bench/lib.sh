# shellcheck shell=bash
# Shared by the bench/ scripts: their own lab hosts (booted fresh, destroyed on
# exit), a work directory with an inventory that uses the demo's settings,
# converging site.yml, and a print user.
# Sourced, not run.

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

# The benches' hosts: never the demo (10.213.0.10) or the test hosts.
# shellcheck disable=SC2034 # used by the scripts that source this file
{
  BENCH_SERVER=printbridge-bench
  BENCH_SERVER_ADDRESS=10.213.0.12
  BENCH_PRINTER=printbridge-benchprinter
  BENCH_PRINTER_ADDRESS=10.213.0.13
  BENCH_CLIENT=printbridge-benchpc
  BENCH_CLIENT_ADDRESS=10.213.0.14
}
BENCH_HOSTS=()
work=

# bench_start HOST...: the toolchain (scripts/lib.sh setup), a work directory
# in $work and a trap that destroys HOST... and the work directory on exit.
# Leftover HOST... of an earlier run are destroyed first.
bench_start() {
  setup
  BENCH_HOSTS=("$@")
  work=$(mktemp -d)
  trap bench_cleanup EXIT
  lab destroy "${BENCH_HOSTS[@]}" >/dev/null 2>&1 || true
}

bench_cleanup() {
  lab destroy "${BENCH_HOSTS[@]}" >/dev/null 2>&1 || true
  rm -rf --one-file-system "$work"
}

# bench_inventory HOST ADDRESS: $work/hosts.yml with HOST in the printbridge
# group and the demo's group_vars next to it.
bench_inventory() {
  cat >"$work/hosts.yml" <<YML
printbridge:
  hosts:
    $1:
      ansible_host: $2
YML
  ln -sfn "$PB_ROOT/inventory/demo/group_vars" "$work/group_vars"
}

# bench_converge LOG [ANSIBLE-PLAYBOOK ARGS...]: site.yml against $work's
# inventory (extra vars as -e ... in ARGS); the log is shown when it fails.
bench_converge() {
  local log=$1
  shift
  ANSIBLE_NOCOLOR=1 ansible-playbook -i "$work/hosts.yml" "$@" playbooks/site.yml >"$log" 2>&1 || {
    cat "$log" >&2
    die "converge failed"
  }
}

# bench_print_user ADDRESS NAME: a member of the print group with a random
# password on the host; prints the password.
bench_print_user() {
  local password
  password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  lab_ssh "$1" "useradd -m -G pbprint $2 && chpasswd" <<<"$2:$password" >&2
  echo "$password"
}

# bench_print_lab SUITE: the print server (SUITE), the printer host and the
# office PC, booted; the printer is ippeveprinter on port 8631 whose "engine"
# is /usr/bin/true, so jobs finish as soon as they arrive. $work/bench.yml
# holds the extra vars of the server's one driverless queue, "bench".
bench_print_lab() {
  say "booting the print server, the printer and the office PC"
  lab peer "$BENCH_CLIENT" --address "$BENCH_CLIENT_ADDRESS" >/dev/null
  lab_printer "$BENCH_PRINTER" "$BENCH_PRINTER_ADDRESS" "Bench Printer" -c /usr/bin/true &
  local printer_pid=$!
  lab create "$BENCH_SERVER" --suite "$1" --address "$BENCH_SERVER_ADDRESS" >/dev/null
  wait "$printer_pid"
  bench_inventory "$BENCH_SERVER" "$BENCH_SERVER_ADDRESS"
  cat >"$work/bench.yml" <<YML
cups_printers:
  - name: bench
    description: Bench printer (driverless)
    device_uri: ipp://$BENCH_PRINTER_ADDRESS:8631/ipp/print
cups_default_printer: bench
YML
}

# bench_pdfs DIR N: N one-page PDFs DIR/job0.pdf ... each with different text.
bench_pdfs() {
  "$PB_VENV/bin/python" - "$1" "$2" <<'PY'
import sys
from pathlib import Path

import pikepdf

folder, count = Path(sys.argv[1]), int(sys.argv[2])
for n in range(count):
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    pdf.pages[0].Contents = pdf.make_stream(f"BT /F1 24 Tf 72 720 Td (Bench job {n}) Tj ET".encode())
    pdf.pages[0].Resources = pikepdf.Dictionary(
        Font=pikepdf.Dictionary(
            F1=pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)
        )
    )
    pdf.save(folder / f"job{n}.pdf")
PY
}

# seconds_since START: wall time since START (from date +%s.%N), in seconds.
seconds_since() {
  python3 -c "import sys; print($(date +%s.%N) - float(sys.argv[1]))" "$1"
}
