"""Bank-file (CSV) import: every good line posts, every bad line is reported with its number.

Format: a header row with `loan_ref,amount,paid_on,txn_id` (`txn_id` is the bank's transaction
reference; it makes the import idempotent, with the file's `source`). Each line posts in its own
transaction, so one bad line never holds back the others, and re-importing a file posts nothing
twice (lines already posted are counted as `already_posted`, not as errors). A file that is
not readable UTF-8 CSV is refused whole, at its first unreadable line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from chedaitong.csvtext import UnreadableCsv, decoded, read_rows
from chedaitong.db.servicing import Loan
from chedaitong.numbers import decimal_text
from servicing.booking import ServicingError, post_repayment

REQUIRED = ("loan_ref", "amount", "paid_on", "txn_id")
#: what `LoanRepayment` stores of a line's txn_id (external_ref) and of the file's source
TXN_ID_MAX, SOURCE_MAX = 64, 32


@dataclass
class ImportReport:
    posted: int = 0
    already_posted: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)

    @property
    def ok(self) -> bool:
        return not self.errors


def _parse(row: dict[str, str]) -> tuple[str, Decimal, date, str]:
    ref = (row.get("loan_ref") or "").strip()
    txn = (row.get("txn_id") or "").strip()
    if not ref or not txn:
        raise ValueError("loan_ref and txn_id are required")
    for name, value in (("loan_ref", ref), ("txn_id", txn)):
        if "\x00" in value:  # no text column stores it (PostgreSQL refuses it)
            raise ValueError(f"{name} contains a NUL character")
    if len(txn) > TXN_ID_MAX:
        raise ValueError(f"txn_id is longer than {TXN_ID_MAX} characters")
    text = (row.get("amount") or "").strip()
    try:  # yuan in ASCII digits (whole cents checked next): not '１.00', '1e2', 5,000 digits
        amount = decimal_text(text, None)
    except ValueError:
        raise ValueError(f"malformed amount {row.get('amount')!r} (yuan in ASCII digits)"
                         ) from None
    if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"amount must be positive whole cents, got {row.get('amount')!r}")
    try:
        paid_on = date.fromisoformat((row.get("paid_on") or "").strip())
    except ValueError:
        raise ValueError(f"malformed paid_on {row.get('paid_on')!r}") from None
    return ref, amount, paid_on, txn


def _read(path: Path) -> tuple[list[str], list[tuple[dict[str, str], int]]]:
    """The header and every (row, line number), read whole before anything posts."""
    return read_rows(decoded(path.read_bytes()))


def import_bank_file(
    factory: sessionmaker[Session], path: Path | str, *, source: str = "bank"
) -> ImportReport:
    report = ImportReport()
    try:
        fieldnames, rows = _read(Path(path))
    except UnreadableCsv as exc:
        report.errors.append((exc.line, exc.reason))
        return report
    missing = [c for c in REQUIRED if c not in fieldnames]
    if missing:
        report.errors.append((1, f"header lacks column(s) {', '.join(missing)}"))
        return report
    seen: dict[str, int] = {}
    for row, line in rows:
        try:
            ref, amount, paid_on, txn = _parse(row)
        except ValueError as exc:
            report.errors.append((line, str(exc)))
            continue
        if txn in seen:
            report.errors.append((line, f"duplicate of line {seen[txn]} (txn_id {txn})"))
            continue
        seen[txn] = line
        with factory() as session:
            loan_id = session.scalar(select(Loan.id).where(Loan.ref == ref))
            if loan_id is None:
                report.errors.append((line, f"unknown loan {ref!r}"))
                continue
            try:
                _, created = post_repayment(session, loan_id, amount, paid_on, source, txn)
                session.commit()
            except ServicingError as exc:
                session.rollback()
                report.errors.append((line, str(exc)))
                continue
        if created:
            report.posted += 1
        else:
            report.already_posted += 1
    return report
