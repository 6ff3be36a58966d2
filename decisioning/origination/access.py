"""Who may see which application: a consultant their own orders, a customer their own
applications, back-office staff all. Anything else is NotFound — existence is not disclosed."""

from __future__ import annotations

from sqlalchemy import Row, Select, and_, or_, select
from sqlalchemy.orm import Session, aliased

from chedaitong.db import Application, Customer, Dealer, Role, User
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
    return _visible_row(session, select(Application), application_id, user)[0]


def _visible_row(session: Session, query: Select, application_id: int, user: User) -> Row:
    """The first row of ``query`` for this application if ``user`` may see it, else
    NotFound (whether or not it exists)."""
    row = session.execute(visible(query.where(Application.id == application_id),
                                  user)).first()
    if row is None:
        raise NotFound(f"no application {application_id} visible to you")
    return row


#: the parties an application's detail shows, read with it (`application_and_parties`). Aliases:
#: `visible`'s own subqueries over ``customers`` must stay their own, never correlated to this
_DEALER, _CUSTOMER = aliased(Dealer), aliased(Customer)
_WITH_PARTIES = (select(Application, _DEALER.code, _DEALER.name, _CUSTOMER.id_number_masked,
                        _CUSTOMER.phone_masked)
                 .join(_DEALER, _DEALER.id == Application.dealer_id)
                 .outerjoin(_CUSTOMER, _CUSTOMER.id == Application.customer_id))


def application_and_parties(*, session: Session, application_id: int,
                            user: User) -> tuple[Application, Row]:
    """`application`, with its parties in the same round trip: a row of the dealer's ``code``
    and ``name`` and the confirmed customer's ``id_number_masked`` and ``phone_masked`` (None
    before the customer confirms) — what `applications.detail` would read next. NotFound as
    `application`."""
    row = _visible_row(session, _WITH_PARTIES, application_id, user)
    return row[0], row
