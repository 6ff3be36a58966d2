"""Who may see which application: a consultant their own orders, a customer their own
applications, back-office staff all. Anything else is NotFound — existence is not disclosed."""

from __future__ import annotations

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from chedaitong.db import Application, Customer, Role, User
from chedaitong.errors import NotFound

STAFF = (Role.REVIEWER, Role.ANALYST, Role.ADMIN)


def visible(query: Select, user: User) -> Select:
    """``query`` over applications narrowed to those ``user`` may see."""
    if user.role is Role.CONSULTANT:
        return query.where(Application.consultant_id == user.id)
    if user.role is Role.CUSTOMER:
        # their own applications, and drafts filed under their *verified* ID number that
        # wait for their consent (which links them)
        mine = select(Customer.id).where(Customer.user_id == user.id)
        verified_number = select(Customer.id_number_index).where(
            Customer.user_id == user.id, Customer.identity_status == "verified")
        return query.where(or_(
            Application.customer_id.in_(mine),
            and_(Application.customer_id.is_(None),
                 Application.id_number_index.in_(verified_number))))
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
