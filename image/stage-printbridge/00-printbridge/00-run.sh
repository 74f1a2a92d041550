#!/bin/bash
# PrintBridge's pi-gen step: converge playbooks/site.yml (the same roles and
# variables as on booted hosts; the roles notice the chroot and only write
# files and enable units) into the image's root filesystem through Ansible's
# chroot connection, with the mounts pi-gen's on_chroot makes.
#
# pi-gen runs this from this directory on the build host, with ROOTFS_DIR,
# WORK_DIR, FIRST_USER_NAME, ... exported and on_chroot/log defined.
# image/build puts the PrintBridge tree in files/printbridge and the build's
# settings in files/build.env.
set -euo pipefail

step_dir=$PWD
src=$step_dir/files/printbridge
# The controller: ansible (the community.general collection has the chroot
# connection) on Python >= 3.12. Keep in step with pyproject.toml's "dev" pins
# (tests/unit checks it).
ANSIBLE_PINS=("ansible>=14.5,<15" "ansible-core>=2.21,<2.22")

fail() {
	echo "printbridge stage: $*" >&2
	exit 1
}

[ -d "$src/playbooks" ] || fail "$src is missing: assemble the stage with image/build"
[ -d "${ROOTFS_DIR:-}" ] || fail "ROOTFS_DIR is not a directory (run by pi-gen's build.sh?)"
declare -F on_chroot >/dev/null || fail "on_chroot is not defined (run by pi-gen's build.sh?)"

# shellcheck source=/dev/null
[ ! -f "$step_dir/files/build.env" ] || source "$step_dir/files/build.env"
[ -n "${PRINTBRIDGE_ADMIN_KEY:-}" ] || fail "PRINTBRIDGE_ADMIN_KEY (the administrators' SSH public key) is not set"
export PRINTBRIDGE_ADMIN_KEY

# Ansible's controller, outside the image. image/build passes its own
# (PRINTBRIDGE_VENV); otherwise (pi-gen's Docker container) one is made once
# per work directory.
controller() {
	local venv=${PRINTBRIDGE_VENV:-${WORK_DIR}/printbridge-controller} python
	if [ -x "$venv/bin/ansible-playbook" ]; then
		echo "$venv"
		return 0
	fi
	[ -z "${PRINTBRIDGE_VENV:-}" ] || fail "PRINTBRIDGE_VENV=$venv has no ansible-playbook"
	python=$(command -v python3.13 || command -v python3.12 || command -v python3) || fail "no python3 on the build host"
	"$python" -c 'import sys; sys.exit(sys.version_info < (3, 12))' \
		|| fail "Ansible's controller needs Python >= 3.12; $python is older (build on trixie or in pi-gen's Docker build)"
	if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
		if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
			fail "python3-venv is missing on the build host"
		fi
		apt-get install -y -qq --no-install-recommends python3-venv >&2 || fail "could not install python3-venv"
	fi
	log "making Ansible's controller in $venv" >&2
	rm -rf "$venv"
	"$python" -m venv "$venv" >&2
	"$venv/bin/pip" install -q "${ANSIBLE_PINS[@]}" >&2 || fail "could not install ${ANSIBLE_PINS[*]} (is PyPI reachable?)"
	echo "$venv"
}

venv=$(controller)

# The firewall role checks the image's rules on the controller, in userspace
# (iptables-restore-translate): in the tree, under qemu-user, iptables cannot
# reach nf_tables. pi-gen's Docker image has no iptables.
if ! command -v iptables-restore-translate >/dev/null; then
	if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
		fail "iptables is missing on the build host (the firewall role checks the image's rules with its iptables-restore-translate)"
	fi
	# (A container's package lists may have been removed: read them then.)
	apt-get install -y -qq --no-install-recommends iptables >&2 \
		|| { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends iptables >&2; } \
		|| fail "could not install iptables"
fi

# What Ansible needs inside the tree (Lite has it; a trimmed stage2 may not).
# This first on_chroot also makes pi-gen's mounts, which stay for Ansible.
on_chroot <<-'CHROOT'
	if ! command -v python3 >/dev/null || ! python3 -c 'import apt' 2>/dev/null; then
		apt-get update
		apt-get install -y --no-install-recommends python3 python3-apt
	fi
CHROOT

log "converging playbooks/site.yml into ${ROOTFS_DIR}, then finalizing it"
(
	cd "$src"
	export ANSIBLE_CONFIG=$src/ansible.cfg ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
	"$venv/bin/ansible-playbook" -i inventory/image playbooks/site.yml
	# The last step: per-device state out, so every card makes its own at first boot.
	"$venv/bin/ansible-playbook" -i inventory/image playbooks/image-finalize.yml
)

# pi-gen made the first user with FIRST_USER_PASS (its build.sh insists on one
# when the first-boot rename is off); image/build made that a throwaway random
# value. No password is shipped: "*" matches none and still allows SSH keys.
on_chroot <<-CHROOT
	usermod --password '*' "${FIRST_USER_NAME}"
CHROOT
