#!/bin/bash -e
# pi-gen runs this before the stage's steps: start from stage2's (Lite) tree.
if [ ! -d "${ROOTFS_DIR}" ]; then
	copy_previous
fi
