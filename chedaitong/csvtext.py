"""Reading a CSV file a bank or a payment channel sends: whole, before any line is applied, so
a file that cannot be read is refused at its first bad line instead of half applied."""

from __future__ import annotations

import csv
import io


class UnreadableCsv(ValueError):
    """The file is not readable CSV; ``line`` is the first line that is not."""

    def __init__(self, line: int, reason: str):
        super().__init__(f"line {line}: {reason}")
        self.line, self.reason = line, reason


def read_rows(text: str) -> tuple[list[str], list[tuple[dict[str, str], int]]]:
    """The header and every (row, line number) of ``text`` (a leading BOM ignored)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        return list(reader.fieldnames or []), [(row, reader.line_num) for row in reader]
    except csv.Error as exc:
        raise UnreadableCsv(reader.line_num + 1, f"not readable CSV: {exc}") from None


def decoded(raw: bytes) -> str:
    """``raw`` as UTF-8 text (BOM or not), else `UnreadableCsv` at the line of the bad byte."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableCsv(raw.count(b"\n", 0, exc.start) + 1,
                            f"not UTF-8 (byte {exc.start})") from None
