"""Sign in with a username and one of the user's API tokens (as printed by `chedaitong demo
seed` or issued by an admin); the token itself never goes into the cookie."""

from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for

from decisioning.origination import accounts
from webapp import database
from webapp.pages import bp
from webapp.pages.errors import nav_for
from webapp.pages.session import check_csrf, page_user, safe_next, sign_in, sign_out


@bp.before_request
def _csrf() -> None:
    if request.method == "POST":
        check_csrf()


@bp.route("/")
def home():
    """The first page the user's role may open."""
    user = page_user()
    if user is None:
        return redirect(url_for("pages.login"))
    pages = nav_for(user)
    if not pages:
        abort(403, f"the {user.role.value} role has no back-office pages")
    return redirect(url_for(pages[0][0]))


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        token = request.form.get("token", "").strip()
        found = accounts.sign_in(session=database.session(), username=username, token=token)
        if found is not None:
            sign_in(*found)
            return redirect(safe_next(request.args.get("next")) or url_for("pages.home"))
        error = "用户名或令牌无效 / Unknown username or token"
    return render_template("pages/login.html", error=error), 401 if error else 200


@bp.route("/logout", methods=["POST"])
def logout():
    sign_out()
    return redirect(url_for("pages.login"))
