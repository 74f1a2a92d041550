"""Who may use the gateway: local (or directory) accounts with a uid >= 1000 in the print or admin groups."""

from __future__ import annotations

import grp
import logging
import os
import pwd
import re
from dataclasses import dataclass

import pamela

from printbridge.gateway.errors import Failure

log = logging.getLogger("printbridge.gateway")

# System accounts and nobody never print through the web.
MIN_UID = 1000
NOBODY_UID = 65534
# Login names as useradd and SSSD make them; nothing a shell or CUPS could misread.
NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$")
INVALID_CREDENTIALS = "The user name or password is wrong, or this account may not print here."


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    groups: tuple[str, ...]
    is_admin: bool

    def summary(self) -> dict[str, object]:
        return {"user": self.name, "groups": list(self.groups), "is_admin": self.is_admin}


def lookup(name: object, print_groups: list[str], admin_group: str) -> Account:
    """The account behind a user name, refused unless it is an ordinary user in one of our groups."""
    if not isinstance(name, str) or not NAME.match(name):
        raise Failure("not_allowed", "This account may not use printing.")
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise Failure("not_allowed", "This account may not use printing.") from None
    if entry.pw_uid < MIN_UID or entry.pw_uid == NOBODY_UID:
        raise Failure("not_allowed", "This account may not use printing.")
    groups = tuple(sorted({group_name(gid) for gid in os.getgrouplist(name, entry.pw_gid)}))
    if not set(groups) & {*print_groups, admin_group}:
        raise Failure("not_allowed", "This account may not use printing.")
    return Account(name, entry.pw_uid, entry.pw_gid, groups, admin_group in groups)


def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def authenticate(name: object, password: object, service: str, print_groups: list[str], admin_group: str) -> Account:
    """Check the password and the account with PAM; every failure looks the same to the caller."""
    if not isinstance(password, str) or not password or len(password) > 1024:
        raise Failure("invalid_credentials", INVALID_CREDENTIALS)
    try:
        account = lookup(name, print_groups, admin_group)
        # resetcred=0: we only check the password, no credentials are established for a session.
        pamela.authenticate(account.name, password, service=service, resetcred=0)
        pamela.check_account(account.name, service=service)
    except (Failure, pamela.PAMError) as error:
        log.info("authenticate user=%s outcome=refused reason=%s", name, error)
        raise Failure("invalid_credentials", INVALID_CREDENTIALS) from None
    return account
