"""Print options checked against the chosen printer's real capabilities (from CUPS) and the document."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

RANGES = re.compile(r"^\d{1,5}(-\d{1,5})?(,\d{1,5}(-\d{1,5})?)*$")
# PWG 5101.1 self-describing media names: class_name_WIDTHxHEIGHTunit, e.g. na_letter_8.5x11in.
PWG_MEDIA = re.compile(
    r"^(?P<cls>[a-z0-9]+)_(?P<name>[a-z0-9.-]+)_(?P<w>[0-9.]+)x(?P<h>[0-9.]+)(?P<unit>mm|in)(?P<variant>\.\w+)?$"
)
TIMES = " \N{MULTIPLICATION SIGN} "
MEDIA_NAMES = {
    "iso_a4_210x297mm": "A4",
    "iso_a5_148x210mm": "A5",
    "iso_a3_297x420mm": "A3",
    "na_letter_8.5x11in": "Letter",
    "na_legal_8.5x14in": "Legal",
    "na_executive_7.25x10.5in": "Executive",
    "na_ledger_11x17in": "Tabloid",
    "na_number-10_4.125x9.5in": "Envelope #10",
    "iso_dl_110x220mm": "Envelope DL",
    "iso_c5_162x229mm": "Envelope C5",
    "na_index-4x6_4x6in": "Index card 4" + TIMES + "6 in",
    "na_5x7_5x7in": "Photo 5" + TIMES + "7 in",
}
ISO_SERIES = re.compile(r"^[abc]\d{1,2}$")


class OptionError(ValueError):
    pass


def media_name(keyword: str) -> str:
    """A paper size as people know it: 'A4', 'Letter', 'B5'; else the size from the PWG name; else the keyword."""
    match = PWG_MEDIA.match(keyword)
    if not match:
        return keyword
    base = keyword.removesuffix(match["variant"] or "")
    if base in MEDIA_NAMES:
        name = MEDIA_NAMES[base]
    elif match["cls"] in ("iso", "jis") and ISO_SERIES.match(match["name"]):
        name = ("JIS " if match["cls"] == "jis" else "") + match["name"].upper()
    else:
        size = f"{match['w']}{TIMES}{match['h']} {match['unit']}"
        plain = match["cls"] == "custom" or not any(ch.isalpha() for ch in match["name"].replace("x", ""))
        name = size if plain else f"{match['name'].replace('-', ' ').capitalize()} ({size})"
    # Variants of one size (e.g. iso_a4_210x297mm.Borderless) must stay apart in the list.
    return f"{name} ({match['variant'][1:].lower()})" if match["variant"] else name


def pages_text(count: int) -> str:
    """'1 page', '3 pages'."""
    return f"{count} page" if count == 1 else f"{count} pages"


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
            raise OptionError(f"Pages “{part}” are outside the document (it has {pages_text(pages)}).")
    return ranges
