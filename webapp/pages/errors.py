"""HTML errors and the shared template context for the pages (the API keeps its JSON)."""

from __future__ import annotations

from flask import render_template, request
from werkzeug.exceptions import HTTPException

from chedaitong.db import Role
from chedaitong.errors import DomainError
from webapp.errors import http_error_for
from webapp.pages import bp
from webapp.pages.session import ANALYSIS, POSTLOAN, REVIEWS, csrf_token, page_user

NAV = (
    ("pages.review_queue", "审核队列 Review queue", REVIEWS),
    ("pages.voucher_lookup", "凭证查询 Vouchers", REVIEWS),
    ("pages.rules", "规则 Rules", ANALYSIS),
    ("pages.models", "模型 Models", ANALYSIS),
    ("pages.challenger", "冠军/挑战者 Challenger", ANALYSIS),
    ("pages.segments", "分群监控 Segments", ANALYSIS),
    ("pages.postloan", "贷后 Post-loan runs", POSTLOAN),
    ("pages.dealer_list", "合作商家 Dealers", REVIEWS),
    ("pages.payout_list", "放款划付 Payouts", REVIEWS),
    ("pages.collection_worklist", "催收 Collections", (Role.COLLECTOR, Role.ADMIN)),
    ("pages.staff_accounts", "员工账户 Staff", (Role.ADMIN,)),
)
CSP = ("default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


def nav_for(user) -> list[tuple[str, str]]:
    return [(endpoint, label) for endpoint, label, allowed in NAV
            if user is not None and user.role in allowed]


@bp.app_context_processor
def _context() -> dict:
    if request.blueprint != "pages":
        return {}
    user = page_user()
    return {"me": user, "nav": nav_for(user), "csrf_token": csrf_token}


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return render_template("pages/error.html", error=exc), exc.code


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError):
    """The same status as the API answers (webapp.errors), as a page."""
    return _http_error(http_error_for(exc))


@bp.after_request
def _no_store(response):
    """Pages carry personal and credit data: keep them out of shared caches."""
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Content-Security-Policy", CSP)  # no script on any page
    return response
