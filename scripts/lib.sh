# shellcheck shell=bash
# Shared set-up for scripts/demo, scripts/test and bench/: checks, packages and
# the controller virtualenv. Sourced, not run.

set -euo pipefail

PB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PB_VENV=${PB_VENV:-$PB_ROOT/.venv}
export PB_LAB_STATE=${PB_LAB_STATE:-/var/lib/printbridge-lab}
export PB_LAB_CACHE=${PB_LAB_CACHE:-/var/cache/printbridge-lab}
export ANSIBLE_CONFIG=$PB_ROOT/ansible.cfg

# What the harness and the toolchain need on a fresh Debian 12/13 machine.
PB_APT_PACKAGES=(
  debootstrap systemd-container iproute2 iptables openssh-client rsync
  ca-certificates git gcc libcups2-dev python3-dev python3-venv shellcheck
  cups-client cups-ipp-utils cups-ppdc
  chromium fonts-dejavu-core python3-aiosmtpd
  nmap testssl.sh lynis curl
  qemu-system-x86 fdisk dosfstools mtools e2fsprogs
  qemu-user-static binfmt-support libcap2-bin
  wpasupplicant python3-yaml
)

die() {
  echo "error: $*" >&2
  exit 1
}

say() {
  echo "==> $*" >&2
}

require_root() {
  [ "$(id -u)" -eq 0 ] || die "run this as root (it builds root filesystems, mounts them and creates network namespaces)"
}

# The controller needs Python >= 3.12 (ansible-core 2.21).
find_python() {
  local candidate
  for candidate in python3.13 python3.12 python3 \
    /root/.pyenv/versions/3.13*/bin/python3.13 /root/.pyenv/versions/3.12*/bin/python3.12; do
    if "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      command -v "$candidate" 2>/dev/null || echo "$candidate"
      return 0
    fi
  done
  die "no Python >= 3.12 found (Ansible 14 needs it on the controller).
  On Debian 13 (trixie):   apt-get install python3 python3-venv
  On Debian 12 (bookworm): install Python 3.12 or 3.13, e.g. with pyenv, so that python3.12 or python3.13 is on PATH"
}

install_packages() {
  local missing=() pkg
  for pkg in "${PB_APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  say "installing ${missing[*]}"
  apt-get update -qq >/dev/null || die "apt-get update failed: is the Debian package archive reachable?"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
}

check_archive() {
  local mirror=${PB_LAB_MIRROR:-http://deb.debian.org/debian}
  "$1" - "$mirror" <<'PY' || die "cannot reach the Debian package archive at ${mirror} (test hosts install their packages from it)"
import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/dists/trixie/Release", timeout=20).read(1)
PY
}

# The virtualenv is rebuilt only when pyproject.toml changes; a lock keeps two
# commands started at once (demo and test) from rebuilding it over each other.
make_venv() {
  local python=$1 stamp
  stamp=$(cat "$PB_ROOT/pyproject.toml" <("$python" --version) | sha256sum | cut -c1-16)
  exec {lock}>"$PB_ROOT/.venv.lock"
  flock "$lock"
  if [ "$(cat "$PB_VENV/.stamp" 2>/dev/null)" != "$stamp" ]; then
    say "creating the controller virtualenv in $PB_VENV"
    rm -rf "$PB_VENV"
    "$python" -m venv "$PB_VENV"
    "$PB_VENV/bin/pip" install -q --upgrade pip
    "$PB_VENV/bin/pip" install -q -e "${PB_ROOT}[dev]" || die "installing the Python toolchain failed"
    echo "$stamp" >"$PB_VENV/.stamp"
  fi
  exec {lock}>&-
  export PATH="$PB_VENV/bin:$PATH"
}

# arm64 programs (the image stage's tree) through qemu-user-static: binfmt_misc
# mounted and Debian's qemu-aarch64 entry (with the F flag) registered. Only
# what runs arm64 programs calls it (scripts/test pigen, bench/image).
enable_binfmt() {
  mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc \
    || die "cannot mount binfmt_misc on /proc/sys/fs/binfmt_misc"
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 \
    || die "cannot register qemu-aarch64 with binfmt_misc (update-binfmts --enable qemu-aarch64)"
}

setup() {
  require_root
  install_packages
  local python
  python=$(find_python)
  check_archive "$python"
  make_venv "$python"
  cd "$PB_ROOT"
}

lab() {
  (cd "$PB_ROOT" && "$PB_VENV/bin/python" -m harness "$@")
}

# lab_ssh ADDRESS COMMAND...: COMMAND as root on a lab host over SSH (stdin
# passes through). Like an admin: the host's first user, then sudo, as the
# roles allow no root logins.
lab_ssh() {
  local address=$1
  shift
  # shellcheck disable=SC2046 # the harness prints one option per word
  ssh $(PYTHONPATH=$PB_ROOT "$PB_VENV/bin/python" -c 'from harness.hosts import SSH_OPTIONS; print(" ".join(SSH_OPTIONS))') \
    -i "$PB_LAB_STATE/id_ed25519" "pbadmin@$address" "sudo -n sh -c $(printf %q "$*")"
}

# lab_printer NAME ADDRESS TITLE [IPPEVEPRINTER OPTION...]: a simulated network
# printer: a booted trixie host (kept if already running) with ippeveprinter
# answering IPP on port 8631, started at every boot.
lab_printer() {
  local name=$1 address=$2 title=$3
  shift 3
  lab up "$name" --suite trixie --address "$address" --with cups-ipp-utils dbus >/dev/null
  lab_ssh "$address" "cat >/etc/systemd/system/lab-printer.service <<UNIT
[Unit]
Description=Simulated network printer (ippeveprinter)
[Service]
ExecStart=/usr/sbin/ippeveprinter -r off -p 8631 -d /var/lib/lab-printer $* -f application/pdf,image/pwg-raster,image/urf '$title'
StateDirectory=lab-printer
[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload && systemctl enable --now lab-printer.service"
}
