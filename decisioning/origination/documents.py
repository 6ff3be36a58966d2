"""The legal documents an application produces, rendered from templates in ``templates/``:
the loan contract (sent to e-signature) and the disbursement voucher (sent to the dealer).

Templates hold the wording; this module gathers the facts (masked parties, the repayment
schedule servicing will bill) so a lawyer can change the text without touching Python.
Plain text, no autoescape: the documents are not HTML, and every value is ours or masked.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from chedaitong.db import Application, Customer, Dealer
from decisioning.origination.customers import masked_name
from servicing.schedule import build_schedule

DIRECT_LEASE_TYPES = ("direct", "direct_lease")


@cache
def _templates() -> Environment:
    return Environment(loader=PackageLoader("decisioning.origination", "templates"),
                       autoescape=False, undefined=StrictUndefined, trim_blocks=True,
                       lstrip_blocks=True)


def _render(name: str, **facts: Any) -> str:
    return _templates().get_template(name).render(**facts)


def contract_text(*, application: Application, customer: Customer, customer_name: str,
                  dealer: Dealer, plan: dict[str, Any], start: date) -> str:
    """The loan contract: parties (masked), vehicle, plan and the repayment schedule, with
    due dates as if disbursed on ``start``."""
    principal = Decimal(str(plan.get("financed_amount") or application.loan_amount))
    schedule = build_schedule(plan.get("repayment_method", "equal_installment"), principal,
                              Decimal(str(plan["annual_rate"])), int(plan["term"]), start)
    label = "deposit" if application.lease_type in DIRECT_LEASE_TYPES else "down payment"
    # the template file ends its last line; contracts have always ended with a newline
    return _render("contract.txt.j2", application=application, customer=customer,
                   lessee_name=masked_name(customer_name), dealer=dealer, plan=plan,
                   schedule=schedule, down_payment_label=label, start=start) + "\n"


def voucher_text(*, application: Application, dealer: Dealer, number: str, code: str,
                 amount: Decimal, issued: datetime) -> str:
    """The disbursement voucher the dealer hands the car over on."""
    return _render("voucher.txt.j2", application=application, dealer=dealer, number=number,
                   code=code, amount=amount, issued=issued)
