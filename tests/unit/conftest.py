"""Unit tests import the harness from the repository root; the tests that run Ansible share how."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

# The controller's ansible-playbook (this virtualenv's) with the repository's configuration.
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
ANSIBLE_ENV = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
