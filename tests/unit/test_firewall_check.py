"""The firewall role's check of its rules (roles/firewall/tasks/rules.yml), run for real.

The role's own tasks render rules.j2 and hand it to iptables on this machine,
as on a booted host (iptables-restore --test) and as in a chroot (the
controller's iptables-restore-translate, which needs no kernel: an arm64 tree
under qemu-user cannot open nf_tables' netlink socket). Good rules pass and
reach the task that writes them (in check mode: nothing is written); a bad
extra rule is refused with iptables' own message before that. The whole run
happens in a new network namespace, so iptables-restore --test never sees this
machine's own rules. Needs root and iptables (scripts/lib.sh setup installs it).
"""

import os
import shutil
import subprocess

import pytest
import yaml
from conftest import ANSIBLE_ENV, ANSIBLE_PLAYBOOK, ROOT

WRITE = "TASK [firewall : Write the rules files]"

# The rules.yml tasks alone: the booted/chroot choice is what validate.yml
# derives from ansible_facts['is_chroot'].
PLAYBOOK = """\
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: The firewall role's rules
      ansible.builtin.include_role:
        name: firewall
        tasks_from: rules
      vars:
        __firewall_booted: "{{ booted | bool }}"
"""

SNMP = {"name": "snmp", "port": 161, "protocol": "udp", "networks": ["192.0.2.50/32", "2001:db8::/64"]}
# Past the role's argument specs (tasks_from skips them), as a template change could be.
BOGUS_MATCH = {**SNMP, "protocol": "bogus"}
# (tcp: iptables 1.8.9 takes udp port 70000 as 4464.)
BAD_PORT = {**SNMP, "protocol": "tcp", "port": 70000}


def translate_and_test(rules_file):
    """(rc of iptables-restore-translate -f, rc of iptables-restore --test in a new netns)."""
    translate = subprocess.run(["iptables-restore-translate", "-f", rules_file], capture_output=True, check=False)
    test = subprocess.run(
        ["unshare", "--net", "iptables-restore", "--test", rules_file], capture_output=True, check=False
    )
    return translate.returncode, test.returncode


def test_this_machine_can_run_the_checks():
    assert os.geteuid() == 0, "run as root (scripts/test does): iptables-restore --test in a new network namespace"
    for command in (
        "unshare",
        "iptables-restore",
        "ip6tables-restore",
        "iptables-restore-translate",
        "ip6tables-restore-translate",
    ):
        assert shutil.which(command), f"{command} is missing (scripts/lib.sh setup installs iptables)"


def converge_rules(tmp_path, booted, extra_rules):
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "vars.yml").write_text(yaml.safe_dump({"booted": booted, "firewall_extra_rules": extra_rules}))
    env = ANSIBLE_ENV
    playbook = ["--check", "-i", "localhost,", tmp_path / "play.yml", "-e", f"@{tmp_path / 'vars.yml'}"]
    result = subprocess.run(
        ["unshare", "--net", ANSIBLE_PLAYBOOK, *playbook],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("booted", [True, False], ids=["booted", "chroot"])
def test_good_rules_pass_and_are_written(tmp_path, booted):
    rc, output = converge_rules(tmp_path, booted, [SNMP])
    assert rc == 0, output
    assert "ok: [localhost] => (item=IPv4 on localhost)" in output
    assert "ok: [localhost] => (item=IPv6 on localhost)" in output
    assert WRITE in output, output
    assert "failed=0" in output


@pytest.mark.parametrize("booted", [True, False], ids=["booted", "chroot"])
@pytest.mark.parametrize(
    ("rule", "message"),
    [(BOGUS_MATCH, 'unknown protocol "bogus" specified'), (BAD_PORT, "invalid port/service `70000' specified")],
    ids=["bogus-match", "bad-port"],
)
def test_bad_rules_are_refused_before_writing(tmp_path, booted, rule, message):
    rc, output = converge_rules(tmp_path, booted, [rule])
    assert rc != 0, output
    command = "iptables-restore --test" if booted else "iptables-restore-translate -f /dev/stdin"
    assert f"iptables did not accept the rules:  IPv4 ({command} on localhost):" in output, output
    assert message in output
    assert WRITE not in output


RULES = """\
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:printbridge-admin - [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -i lo -j ACCEPT
-A INPUT -s 10.0.0.0/8 -j printbridge-admin
-A printbridge-admin -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW -m hashlimit --hashlimit-above 10/min \
--hashlimit-burst 10 --hashlimit-mode srcip --hashlimit-name printbridge-ssh4 -j DROP
-A printbridge-admin -p icmp -m icmp --icmp-type 8 -m limit --limit 5/sec -j ACCEPT
COMMIT
"""

# What iptables-restore-translate must refuse, as iptables-restore --test does.
BROKEN = {
    "unknown-match": ("-m tcp --dport 22", "-m bogus --dport 22"),
    "unknown-option": ("--ctstate RELATED", "--bogus RELATED"),
    "bad-port": ("--dport 22", "--dport 70000"),
    "bad-protocol": ("-p icmp -m icmp", "-p bogus -m bogus"),
    "bad-ctstate": ("RELATED,ESTABLISHED", "RELATED,BOGUS"),
    "bad-icmp-type": ("--icmp-type 8", "--icmp-type 999"),
    "bad-address": ("10.0.0.0/8", "10.0.0.300/8"),
    "bad-table": ("*filter", "*bogus"),
    "bad-chain-line": (":FORWARD DROP [0:0]", ":FORWARD"),
    "garbage-line": ("-A INPUT -i lo -j ACCEPT", "hello world"),
}


def test_translate_accepts_good_rules(tmp_path):
    rules = tmp_path / "rules"
    rules.write_text(RULES)
    assert translate_and_test(rules) == (0, 0)


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_translate_refuses_what_restore_test_refuses(tmp_path, case):
    old, new = BROKEN[case]
    assert old in RULES
    rules = tmp_path / "rules"
    rules.write_text(RULES.replace(old, new, 1))
    translate, test = translate_and_test(rules)
    assert test != 0, "iptables-restore --test accepts it: not a broken rule"
    assert translate != 0
