"""A card's printbridge.yml as its first boot reads it (roles/firstboot/tasks/device_config.yml), then takes it
off the boot partition (device_config_scrub.yml): run here with Ansible against files in a temporary directory.
What is applied is checked on the card itself (tests/infra/test_card.py) and a refused file on the image's
container (tests/infra/test_firstboot.py)."""

import json
import re
import subprocess

import yaml
from conftest import ANSIBLE_ENV, ANSIBLE_PLAYBOOK, ROOT

EXAMPLE = ROOT / "image/printbridge.yml.example"
SECRET = "correct-horse-battery-staple"
PLAY = """\
- hosts: localhost
  connection: local
  gather_facts: true
  gather_subset: [min]
  tasks:
    - ansible.builtin.include_tasks: one.yml
      loop: "{{ configs }}"
      loop_control:
        loop_var: config
"""
ONE = """\
- ansible.builtin.include_role: {name: firstboot, tasks_from: device_config}
  vars:
    firstboot_device_config: "{{ config }}"
- ansible.builtin.copy:
    content: "{{ {'refused': __firstboot_refused, 'device': __firstboot_device} | to_json }}"
    dest: "{{ config | dirname }}/../verdict.json"
    mode: "0600"
"""
SCRUB = """\
- ansible.builtin.include_role: {name: firstboot, tasks_from: device_config_scrub}
  vars:
    firstboot_device_config: "{{ config }}"
  when: __firstboot_device_file.stat.exists
"""


# The programs printbridge.yml's network, wifi and directory need in the image (NetworkManager, wpa_supplicant,
# sssd, adcli), stood in for by one this machine has: it runs none of them.
IMAGE_PROGRAMS = {
    "__firstboot_network_manager": "/usr/bin/env",
    "__firstboot_wpa_supplicant": "/usr/bin/env",
    "__firstboot_sssd": "/usr/bin/env",
    "__firstboot_adcli": "/usr/bin/env",
}
# The image's print groups, which a directory of printbridge.yml serves.
IMAGE_SETTINGS = {"directory_print_groups": ["office-staff"]}
DIRECTORY = {
    "ldap_uris": ["ldaps://ldap.example.org"],
    "search_base": "dc=example,dc=org",
    "bind_dn": "cn=printbridge,dc=example,dc=org",
    "bind_password": SECRET,
}
DOMAIN = {"provider": "ad", "ad_domain": "office.example.org", "join_user": "printjoin", "join_password": SECRET}


def read_all(tmp_path, contents, scrub=False, programs=IMAGE_PROGRAMS, image=IMAGE_SETTINGS):
    """Each printbridge.yml of *contents* (None: no file; bytes as they are) through the first boot's tasks, in one
    Ansible run (each file in a boot partition of its own, tmp_path/N/bootfs): ([verdict, ...], Ansible's output).
    *programs*: where the image's NetworkManager, wpa_supplicant and sssd are; *image*: the image's settings."""
    configs = []
    for number, content in enumerate(contents):
        config = tmp_path / f"{number}/bootfs/printbridge.yml"
        config.parent.mkdir(parents=True)
        if isinstance(content, bytes):
            config.write_bytes(content)
        elif content is not None:
            config.write_text(content)
        configs.append(str(config))
    (tmp_path / "play.yml").write_text(PLAY)
    (tmp_path / "one.yml").write_text(ONE + (SCRUB if scrub else ""))
    env = ANSIBLE_ENV
    extra = {"configs": configs, "ansible_python_interpreter": "/usr/bin/python3", **programs, **image}
    result = subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", "localhost,", str(tmp_path / "play.yml"), "-e", json.dumps(extra)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return [json.loads((tmp_path / f"{number}/verdict.json").read_text()) for number in range(len(contents))], output


def read(tmp_path, content, scrub=False, programs=IMAGE_PROGRAMS, image=IMAGE_SETTINGS):
    """One printbridge.yml through the first boot's tasks: (verdict, Ansible's output)."""
    verdicts, output = read_all(tmp_path, [content], scrub, programs, image)
    return verdicts[0], output


def with_secret(settings):
    return yaml.safe_dump({**settings, "wifi": {"ssid": "Office", "password": SECRET, "country": "DE"}})


def test_the_documented_example_is_accepted(tmp_path):
    """The example as it stands (LDAP), and with its commented Active Directory directory instead."""
    example = EXAMPLE.read_text()
    ldap_start = example.index("\ndirectory:\n")
    ad_start = example.index("\n# directory:\n")
    with_ad = example[:ldap_start] + "\n" + re.sub(r"(?m)^# ?", "", example[ad_start + 1 :])
    verdicts, _ = read_all(tmp_path, [example, with_ad])
    for text, verdict in zip([example, with_ad], verdicts, strict=True):
        assert verdict["refused"] == ""
        assert verdict["device"] == yaml.safe_load(text)
    assert verdicts[1]["device"]["directory"]["provider"] == "ad"


def test_no_file_or_an_empty_one_is_no_settings(tmp_path):
    verdicts, _ = read_all(tmp_path, [None, "", "# nothing set yet\n"])
    assert verdicts == [{"refused": "", "device": {}}] * 3


WRONG = [
    ({"hostname": "Reception_1"}, 'hostname must be lower-case letters, digits and inner "-"'),
    ({"colour": "blue"}, "colour"),
    ({"timezone": "Mars/Olympus"}, 'timezone "Mars/Olympus" is not a time zone'),
    ({"timezone": "../../etc/passwd"}, "is not a time zone"),
    ({"network": {"address": "192.168.10.20"}}, "network.address must be an IPv4 address with a prefix length"),
    ({"network": {"address": "10.0.0.2/24", "gateway": "10.0.0.256"}}, "network.gateway must be an IPv4"),
    ({"network": {"address": "10.0.0.2/24", "dns": ["dns.example"]}}, "network.dns: not an IPv4 address"),
    ({"network": {"gateway": "10.0.0.1"}}, "address"),
    ({"network": {"interface": "wifi", "address": "10.0.0.2/24"}}, "network.interface wifi needs the wifi settings"),
    ({"network": {"interface": "wlan0", "address": "10.0.0.2/24"}}, "interface"),
    ({"wifi": {"ssid": "Office", "password": "short", "country": "DE"}}, "wifi.password must have 8 to 63"),
    ({"wifi": {"ssid": "Office", "password": SECRET, "country": "germany"}}, "two-letter country code"),
    ({"wifi": {"ssid": "", "password": SECRET, "country": "DE"}}, "wifi.ssid must have 1 to 32 characters"),
    ({"wifi": {"ssid": "x" * 33, "password": SECRET, "country": "DE"}}, "wifi.ssid must have 1 to 32 characters"),
    ({"admins": [{"name": "Alice Smith", "ssh_keys": []}]}, "admins: not a user name: Alice Smith"),
    ({"admins": [{"name": "alice", "ssh_keys": ["hunter2"]}]}, "admins: not an SSH public key"),
    ({"admins": "alice"}, "admins"),
    ({"printers": [{"name": "front desk", "device_uri": "ipp://10.0.0.9/ipp/print"}]}, "not a queue name"),
    ({"printers": [{"name": "desk", "device_uri": "file:///etc/shadow"}]}, "not a printer address"),
    ({"printers": [{"name": "desk"}]}, "device_uri"),
    ({"directory": {**DIRECTORY, "ldap_uris": ["http://ldap.example.org"]}}, "directory.ldap_uris: not ldaps://"),
    ({"directory": {**DIRECTORY, "ldap_uris": ["ldaps://a.example ldaps://b.example"]}}, "directory.ldap_uris"),
    ({"directory": {**DIRECTORY, "bind_password": ""}}, "directory.bind_dn and directory.bind_password go together"),
    ({"directory": {"ldap_uris": ["ldaps://ldap.example.org"]}}, "search_base"),
    ({"directory": {**DIRECTORY, "ldap_uris": ["ldaps://a.example", "ldap://b.example"]}}, "all ldaps:// or all"),
    ({"directory": {**DIRECTORY, "search_base": "example.org"}}, "directory.search_base must be a DN"),
    ({"directory": {**DIRECTORY, "ca_certificate": "MIIB..."}}, "directory.ca_certificate must be a PEM"),
    ({"directory": {**DIRECTORY, "print_groups": ["x"]}}, "print_groups"),
    ({"directory": {**DIRECTORY, "provider": "samba"}}, "provider"),
    ({"directory": {**DIRECTORY, "join_user": "printjoin"}}, "directory: join_user are not settings of provider ldap"),
    ({"directory": {**DOMAIN, "search_base": "dc=a"}}, "directory: search_base are not settings of provider ad"),
    ({"directory": {**DOMAIN, "ad_domain": "OFFICE"}}, "directory.ad_domain must be the domain as a lower-case DNS"),
    ({"directory": {**DOMAIN, "ad_servers": ["dc1.office.example.org", "dc 2"]}}, "ad_servers: not a host name: dc 2"),
    ({"directory": {**DOMAIN, "join_user": "Domain Admins"}}, "directory.join_user must be an account name"),
    ({"directory": {**DOMAIN, "join_password": ""}}, "directory.join_password must not be empty"),
    ({"directory": {"provider": "ad", "ad_domain": "office.example.org"}}, "join_user"),
]


def test_a_wrong_value_refuses_the_whole_file(tmp_path):
    """Nothing of a refused file applies (device is empty), and the reason names the culprit."""
    contents = [yaml.safe_dump({"hostname": "reception", **settings}) for settings, _ in WRONG]
    verdicts, _ = read_all(tmp_path, contents)
    for (settings, message), verdict in zip(WRONG, verdicts, strict=True):
        assert message in verdict["refused"], settings
        assert verdict["device"] == {}, settings


def test_network_and_wifi_need_the_image_to_have_their_programs(tmp_path):
    """An image without NetworkManager (or, for Wi-Fi, wpa_supplicant) refuses them rather than cut the device off."""
    missing = str(tmp_path / "missing")
    for program, settings, message in [
        ("__firstboot_network_manager", "network: {address: 10.0.0.2/24}\n", "need NetworkManager in the image"),
        ("__firstboot_wpa_supplicant", with_secret({}), "wifi needs wpasupplicant in the image"),
    ]:
        verdict, output = read(tmp_path / program, settings, programs={**IMAGE_PROGRAMS, program: missing})
        assert message in verdict["refused"]
        assert verdict["device"] == {}
        assert SECRET not in output


def test_a_directory_needs_sssd_and_print_groups_in_the_image(tmp_path):
    """A directory is joined with the image's SSSD (and adcli for a domain) and print groups (its cupsd.conf and web
    app name them)."""
    missing = str(tmp_path / "missing")
    for name, directory, programs, image, message in [
        ("sssd", DIRECTORY, {**IMAGE_PROGRAMS, "__firstboot_sssd": missing}, IMAGE_SETTINGS, "needs SSSD"),
        ("groups", DOMAIN, IMAGE_PROGRAMS, {"directory_print_groups": []}, "needs the image to name its print groups"),
        ("adcli", DOMAIN, {**IMAGE_PROGRAMS, "__firstboot_adcli": missing}, IMAGE_SETTINGS, "ad needs adcli"),
    ]:
        settings = yaml.safe_dump({"directory": directory})
        verdict, output = read(tmp_path / name, settings, programs=programs, image=image)
        assert message in verdict["refused"]
        assert verdict["device"] == {}
        assert SECRET not in output


def test_the_wifi_key_is_wpa_passphrases_and_the_ssid_networkmanagers_bytes():
    """The first boot derives the WPA2 key itself (the password never reaches a file): it must be the key
    wpa_passphrase derives, and the SSID the byte list NetworkManager's keyfiles read, whatever its characters."""
    maker = yaml.safe_load((ROOT / "roles/firstboot/vars/main.yml").read_text())["__firstboot_wifi_key_maker"]
    for ssid in ["Office", "Büro; 2. OG", " lead#ing=space "]:
        made = subprocess.run(["python3", "-c", maker, ssid], input=SECRET, capture_output=True, text=True, check=True)
        key = json.loads(made.stdout)
        expected = subprocess.run(
            ["wpa_passphrase", ssid], input=SECRET + "\n", capture_output=True, text=True, check=True
        ).stdout
        assert f"\tpsk={key['psk']}\n" in expected, ssid
        assert bytes(int(byte) for byte in key["ssid"].split(";")[:-1]) == ssid.encode(), ssid
        assert SECRET not in made.stdout


def test_an_unreadable_file_is_refused_without_showing_it(tmp_path):
    unreadable = [
        (f"hostname: reception\nwifi: {{ssid: Office, password: {SECRET}\n", "it is not valid YAML at line 3"),
        ("- hostname: reception\n", "must be a mapping of settings"),
        ("hostname: café\n".encode("latin-1"), "it is not UTF-8 text"),
    ]
    verdicts, output = read_all(tmp_path, [content for content, _ in unreadable])
    for (content, message), verdict in zip(unreadable, verdicts, strict=True):
        assert message in verdict["refused"], content
        assert verdict["device"] == {}
    assert SECRET not in output + json.dumps(verdicts)


def test_the_file_leaves_the_card_without_its_secret(tmp_path):
    """Accepted, refused or unreadable: printbridge.yml is overwritten and removed, what remains beside it has no
    Wi-Fi or directory password, and neither has Ansible's output nor the reason."""
    contents = [
        with_secret({"hostname": "reception", "directory": DIRECTORY}),
        with_secret({"hostname": "Reception!"}),
        f"wifi: {{password: {SECRET}\n",
        yaml.safe_dump({"directory": DOMAIN}),
    ]
    verdicts, output = read_all(tmp_path, contents, scrub=True)
    assert SECRET not in output + "".join(verdict["refused"] for verdict in verdicts)
    kept = []
    for number, name in enumerate(["applied", "refused", "refused", "applied"]):
        bootfs = tmp_path / f"{number}/bootfs"
        assert [path.name for path in bootfs.iterdir()] == [f"printbridge-{name}.yml"]
        kept.append((bootfs / f"printbridge-{name}.yml").read_text())
        assert SECRET not in kept[-1]
        assert verdicts[number]["refused"] in kept[-1]
    applied, refused, unreadable, joined = kept
    assert "REFUSED" not in applied and "REFUSED" in refused and "REFUSED" in unreadable
    for text in (applied, refused):
        assert yaml.safe_load(text)["wifi"] == {"ssid": "Office", "password": "REMOVED", "country": "DE"}
    assert yaml.safe_load(applied)["directory"] == {**DIRECTORY, "bind_password": "REMOVED"}
    assert yaml.safe_load(joined)["directory"] == {**DOMAIN, "join_password": "REMOVED"}
    assert "not valid YAML" in unreadable and "Its content is not kept" in unreadable
