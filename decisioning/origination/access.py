"""Who may see which application: a consultant their own orders, a customer their own
applications, back-office staff all. Anything else is 404 — existence is not disclosed."""

from __future__ import annotations

from sqlalchemy import Select, select
from werkzeug.exceptions import NotFound

from chedaitong.db import Application, Customer, Role, User
from webapp import database


def visible(query: Select, user: User) -> Select:
    if user.role is Role.CONSULTANT:
        return query.where(Application.consultant_id == user.id)
    if user.role is Role.CUSTOMER:
        return query.join(Customer, Customer.id == Application.customer_id).where(
            Customer.user_id == user.id)
    if user.role in (Role.REVIEWER, Role.ANALYST, Role.ADMIN):
        return query
    return query.where(False)


def application(application_id: int, user: User, *, lock: bool = False) -> Application:
    query = visible(select(Application).where(Application.id == application_id), user)
    found = database.session().scalar(query)
    if found is None:
        raise NotFound(f"no application {application_id} visible to you")
    return found
