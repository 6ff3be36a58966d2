"""Bank files: good lines post, bad lines are reported with line numbers, re-import is a no-op."""

from __future__ import annotations

from datetime import date

from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chedaitong.db import make_session_factory
from chedaitong.db.servicing import LoanRepayment
from servicing.bankfile import import_bank_file
from servicing.booking import book_loan
from tests.servicing_db.conftest import plan

FILE = """loan_ref,amount,paid_on,txn_id
BK1,3133.64,2025-02-15,T1
NOPE,100.00,2025-02-15,T2
BK1,-5.00,2025-02-16,T3
BK1,12x.00,2025-02-16,T4
BK1,3133.64,2025-02-15,T1
BK1,1.005,2025-02-16,T5
BK1,100.00,2025-13-01,T6
BK1,50.00,2025-02-20,T7
"""


def _setup(engine, world, tmp_path):
    with Session(engine) as session:
        app_id = next(iter(world["applications"].values()))
        book_loan(session, application_id=app_id, plan=plan(), disbursed_on=date(2025, 1, 15),
                  loan_ref="BK1")
        session.commit()
    path = tmp_path / "bank.csv"
    path.write_text(FILE, encoding="utf-8")
    return path


def _count(engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(LoanRepayment))


def test_bad_lines_reported_good_lines_posted_reimport_posts_nothing(engine, world, tmp_path):
    path = _setup(engine, world, tmp_path)
    factory = make_session_factory(engine)
    report = import_bank_file(factory, path)
    assert report.posted == 2
    bad = dict(report.errors)
    assert sorted(bad) == [3, 4, 5, 6, 7, 8]
    assert "unknown loan" in bad[3]
    assert "positive" in bad[4]
    assert "malformed amount" in bad[5]
    assert "duplicate of line 2" in bad[6]
    assert "whole cents" in bad[7]
    assert "paid_on" in bad[8]
    again = import_bank_file(factory, path)
    assert again.posted == 0 and again.already_posted == 2
    assert _count(engine) == 2


def test_cli_exit_code_and_report(engine, world, tmp_path, settings, monkeypatch):
    from servicing.cli import servicing

    path = _setup(engine, world, tmp_path)
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    result = CliRunner().invoke(servicing, ["import-bank-file", str(path)])
    assert result.exit_code == 1, result.output
    assert "posted 2" in result.output and "line 3: unknown loan" in result.output
    result = CliRunner().invoke(servicing, ["import-bank-file", str(path)])
    assert "posted 0, already posted 2" in result.output
    assert _count(engine) == 2


def test_an_unreadable_file_is_refused_whole_with_its_line(engine, world, tmp_path, settings,
                                                           monkeypatch):
    """A field over the csv module's limit or bytes that are not UTF-8 stopped the command
    with a traceback (after posting the lines before it); a NUL reached the query (a
    traceback on PostgreSQL). Now: a line number and a reason, exit 1, nothing posted from
    an unreadable file."""
    from servicing.cli import servicing

    path = _setup(engine, world, tmp_path)
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    good = "loan_ref,amount,paid_on,txn_id\nBK1,50.00,2025-02-20,T7\n"
    cases = {"overlong": (good + "x" * 200_000 + ",1.00,2025-02-20,T8\n").encode(),
             "not utf-8": good.encode() + b"BK1,\xff\xfe,2025-02-20,T8\n"}
    for label, content in cases.items():
        path.write_bytes(content)
        result = CliRunner().invoke(servicing, ["import-bank-file", str(path)])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), (
            label, result.exception)
        assert "line 3:" in result.output and "posted 0" in result.output, result.output
    assert _count(engine) == 0
    path.write_bytes((good + "BK\x001,1.00,2025-02-20,T9\n").encode())
    report = import_bank_file(make_session_factory(engine), path)
    assert report.posted == 1 and report.errors == [(3, "loan_ref contains a NUL character")]


def test_a_txn_id_or_source_longer_than_stored_is_refused_not_a_traceback(
        engine, world, tmp_path, settings, monkeypatch):
    """The columns hold 64 (external_ref) and 32 (source) characters: longer ones stopped
    the import with a traceback on PostgreSQL, mid-file."""
    from servicing.cli import servicing

    path = _setup(engine, world, tmp_path)
    path.write_text("loan_ref,amount,paid_on,txn_id\n"
                    f"BK1,50.00,2025-02-20,{'T' * 65}\nBK1,50.00,2025-02-20,T7\n")
    report = import_bank_file(make_session_factory(engine), path)
    assert report.posted == 1 and report.errors == [(2, "txn_id is longer than 64 characters")]
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    result = CliRunner().invoke(servicing, ["import-bank-file", str(path), "--source", "s" * 33])
    assert result.exit_code == 2 and "--source" in result.output, result.output


def test_a_future_dated_line_is_refused_and_does_not_block_the_real_payments(engine, world,
                                                                              tmp_path):
    """A line dated 2099 (a typo for 2029, or a hostile file) was posted: it accrued the loan's
    penalty through 2099, and every real payment after it was refused as back-dated."""
    path = _setup(engine, world, tmp_path)
    factory = make_session_factory(engine)
    path.write_text("loan_ref,amount,paid_on,txn_id\nBK1,100.00,2099-02-15,F1\n")
    report = import_bank_file(factory, path)
    assert report.posted == 0 and report.errors == [(2, "paid_on is in the future")]
    path.write_text("loan_ref,amount,paid_on,txn_id\nBK1,3133.64,2025-02-15,T1\n")
    assert import_bank_file(factory, path).posted == 1


def test_amounts_are_ascii_digits_and_never_a_traceback(engine, world, tmp_path):
    """Decimal() reads full-width digits and exponents: '１.00' and '1e2' were posted as
    1.00 and 100.00; 5,000 nines raised InvalidOperation out of the import (a traceback)."""
    path = _setup(engine, world, tmp_path)
    path.write_text("loan_ref,amount,paid_on,txn_id\n"
                    "BK1,１.00,2025-02-15,W1\nBK1,1e2,2025-02-15,W2\n"
                    f"BK1,{'9' * 5000},2025-02-15,W3\n")
    report = import_bank_file(make_session_factory(engine), path)
    assert report.posted == 0 and [line for line, _ in report.errors] == [2, 3, 4]
    assert all("malformed amount" in reason for _, reason in report.errors), report.errors
    assert _count(engine) == 0
