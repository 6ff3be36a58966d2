"""The organisation model enforces what the business says: a consultant belongs to one dealer."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chedaitong.db import Dealer, Role, User


def test_consultant_must_belong_to_a_dealer_and_staff_must_not(engine):
    with Session(engine) as s:
        dealer = Dealer(code="BJ-001", name="北京星辰4S店", city="北京", province="北京")
        s.add_all(
            [dealer, User(username="c1", display_name="王敏", role=Role.CONSULTANT, dealer=dealer)]
        )
        s.commit()
        assert s.get(User, 1).dealer.code == "BJ-001"

    for bad in (
        User(username="c2", display_name="x", role=Role.CONSULTANT),
        User(username="r1", display_name="y", role=Role.REVIEWER, dealer_id=1),
    ):
        with Session(engine) as s, pytest.raises(IntegrityError):
            s.add(bad)
            s.commit()
