"""Test-host harness: Debian root filesystems booted as systemd-nspawn hosts.

Each host lives in its own network namespace on a private bridge, so it is
reached over SSH exactly like a Raspberry Pi on the office LAN. Root
filesystems and downloaded packages are cached between runs.
"""
