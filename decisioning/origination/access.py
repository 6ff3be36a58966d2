"""Who may see which application: a consultant their own orders, a customer their own
applications, back-office staff all. Anything else is NotFound — existence is not disclosed."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from chedaitong.db import Application, Customer, Role, User
from chedaitong.errors import NotFound

STAFF = (Role.REVIEWER, Role.ANALYST, Role.ADMIN)


def visible(query: Select, user: User) -> Select:
    """``query`` over applications narrowed to those ``user`` may see."""
    if user.role is Role.CONSULTANT:
        return query.where(Application.consultant_id == user.id)
    if user.role is Role.CUSTOMER:
        return query.join(Customer, Customer.id == Application.customer_id).where(
            Customer.user_id == user.id)
    if user.role in STAFF:
        return query
    return query.where(False)


def application(*, session: Session, application_id: int, user: User) -> Application:
    """The application if ``user`` may see it (NotFound otherwise, whether or not it exists)."""
    query = visible(select(Application).where(Application.id == application_id), user)
    found = session.scalar(query)
    if found is None:
        raise NotFound(f"no application {application_id} visible to you")
    return found
