# shellcheck shell=sh
# Shared by printbridge-firstboot and printbridge-directory-join, which source
# it from the payload the image carries (ANSIBLE_DIR/roles/firstboot/files).
# Its variables start with status_ or run_: sh has no local ones.

# write_status FILE KEY VALUE...: an outcome as one JSON object for admins and
# the web app, with the time as "finished"; written aside and renamed, so a
# reader never sees half of it.
write_status() {
  status_file=$1
  shift
  status_temporary=$(mktemp "$status_file.XXXXXX")
  python3 -c 'import json, sys; pairs = sys.argv[1:]; print(json.dumps(dict(zip(pairs[::2], pairs[1::2]))))' \
    "$@" finished "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$status_temporary"
  chmod 0644 "$status_temporary"
  mv "$status_temporary" "$status_file"
}

# run_playbook ANSIBLE_DIR PLAYBOOK [NAME=VALUE...]: a shipped playbook on this
# device, with Debian's ansible-core and the shipped roles and collections.
run_playbook() {
  run_dir=$1
  run_name=$2
  shift 2
  env "$@" ANSIBLE_ROLES_PATH="$run_dir/roles" ANSIBLE_COLLECTIONS_PATH="$run_dir/collections" \
    ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_LOCALHOST_WARNING=0 \
    ansible-playbook -i localhost, -c local "$run_dir/playbooks/$run_name"
}
