"""Turn the timestamps that start syslog, journalctl and Dovecot log lines into sortable ISO 8601 strings."""

from __future__ import annotations

MONTHS = {
    "Jan": "01", "Feb": "02", "Mar": "03", "Apr": "04", "May": "05", "Jun": "06",
    "Jul": "07", "Aug": "08", "Sep": "09", "Oct": "10", "Nov": "11", "Dec": "12",
}  # fmt: skip


def line_timestamp(line: str, year: int, last_month: int = 12) -> tuple[str, int] | None:
    """ISO timestamp of a syslog-style line and the offset where the rest of the line starts, or None.

    ``Nov 24 16:00:00 host ...`` (syslog, ``journalctl -o short``, Dovecot's own log file) carries no year: it is
    taken from ``year`` (the file's modification year), minus one for months after ``last_month`` (the mtime month).
    ``2026-11-24T16:00:00.123+00:00 host ...`` (rsyslog, ``journalctl -o short-iso``) is cut to seconds.
    """
    if len(line) < 16:
        return None
    month = MONTHS.get(line[:3])
    if month is not None and line[3] == " ":
        day = line[4:6].strip()
        clock = line[7:15]
        if not day.isdigit() or clock[2:3] != ":" or clock[5:6] != ":" or line[15:16] != " ":
            return None
        y = year - 1 if int(month) > last_month else year
        return f"{y}-{month}-{int(day):02d}T{clock}", 16
    if line[4:5] == "-" and line[:4].isdigit() and line[10:11] in ("T", " ") and line[13:14] == ":":
        space = line.find(" ", 11 if line[10] == "T" else 19)
        if space == -1:
            return None
        stamp = line[:19].replace(" ", "T")
        return stamp, space + 1
    return None
