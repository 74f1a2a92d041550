"""Print options checked against the chosen printer's real capabilities (from CUPS) and the document."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

RANGES = re.compile(r"^\d{1,5}(-\d{1,5})?(,\d{1,5}(-\d{1,5})?)*$")


class OptionError(ValueError):
    pass


def validate(given: Mapping[str, Any], capabilities: Mapping[str, Any], pages: int) -> dict[str, str]:
    """The IPP options to send, as strings; raise OptionError with a plain message on any bad value."""
    options: dict[str, str] = {}
    copies = str(given.get("copies") or "1").strip()
    if not copies.isdigit() or not 1 <= int(copies) <= capabilities["max_copies"]:
        raise OptionError(f"Copies must be a whole number from 1 to {capabilities['max_copies']}.")
    if int(copies) > 1:
        options["copies"] = str(int(copies))
    ranges = str(given.get("page-ranges") or "").replace(" ", "")
    if ranges:
        options["page-ranges"] = page_ranges(ranges, pages)
    for key, allowed, label in (
        ("sides", capabilities["sides"], "Sides"),
        ("print-color-mode", capabilities["color_modes"], "Colour"),
        ("media", capabilities["media"], "Paper size"),
    ):
        value = str(given.get(key) or "")
        if not value:
            continue
        if value not in allowed:
            raise OptionError(f"{label} “{value}” is not offered by this printer.")
        options[key] = value
    return options


def page_ranges(ranges: str, pages: int) -> str:
    if not RANGES.match(ranges):
        raise OptionError("Pages must look like 1-3,5 (numbers and ranges separated by commas).")
    for part in ranges.split(","):
        first, _, last = part.partition("-")
        start, end = int(first), int(last or first)
        if not 1 <= start <= end <= pages:
            raise OptionError(f"Pages “{part}” are outside the document (it has {pages} pages).")
    return ranges
