"""CUPS states, reasons and errors in plain words for office staff."""

from __future__ import annotations

PRINTER_STATES = {3: "idle", 4: "printing", 5: "stopped"}
JOB_STATES = {3: "pending", 4: "held", 5: "processing", 6: "stopped", 7: "cancelled", 8: "aborted", 9: "completed"}

# printer-state-reasons keywords (without -report/-warning/-error) people care about.
REASONS = {
    "media-empty": "out of paper",
    "media-needed": "needs paper",
    "media-low": "paper low",
    "media-jam": "paper jam",
    "toner-low": "toner low",
    "toner-empty": "out of toner",
    "marker-supply-low": "toner or ink low",
    "marker-supply-empty": "out of toner or ink",
    "marker-waste-almost-full": "waste toner almost full",
    "marker-waste-full": "waste toner full",
    "door-open": "a door is open",
    "cover-open": "a cover is open",
    "input-tray-missing": "a paper tray is missing",
    "output-area-full": "output tray full",
    "offline": "offline",
    "shutdown": "switched off",
    "timed-out": "not answering",
    "connecting-to-device": "connecting to the printer",
    "paused": "paused by an administrator",
    "cups-missing-filter": "cannot convert documents for this printer",
    "cups-insecure-filter": "driver problem",
    "stopped": "stopped",
    "other": "needs attention",
}
SUFFIXES = ("-report", "-warning", "-error")


def reason_words(reasons: list[str]) -> list[str]:
    words = []
    for reason in reasons:
        for suffix in SUFFIXES:
            reason = reason.removesuffix(suffix)
        if reason in REASONS and REASONS[reason] not in words:
            words.append(REASONS[reason])
    return words


def printer_message(state: str, accepting: bool, reasons: list[str]) -> str:
    """One sentence: 'Ready', 'Printing', 'Stopped: out of paper', with 'not accepting jobs' when so."""
    words = reason_words(reasons)
    if state == "stopped" and "paused by an administrator" not in words:
        words = words or ["stopped"]
    text = {"idle": "Ready", "printing": "Printing", "stopped": "Stopped"}[state]
    if words:
        text += ": " + ", ".join(words)
    if not accepting:
        text += " (not accepting new jobs)"
    return text
