"""Mainland resident ID numbers (GB 11643-1999) and mobile numbers: what a valid one is.

18 characters: a 6-digit region, the 8-digit birth date, a 3-digit sequence and a check
character computed from the other 17 (ISO 7064 MOD 11-2). A number failing the check is a typo
(or made up) and would otherwise create a customer no vendor can verify; the birth date inside
it is the customer's birth date, so a profile giving another one is inconsistent.
"""

from __future__ import annotations

import re
from datetime import date

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"
#: ASCII digits only: ``\d`` also matches full-width and other scripts' digits, which `int`
#: reads (so GB 11643 passes) but no vendor does, and the same number would have a second
#: blind index — another identity for one person
FORMAT = re.compile(r"^[0-9]{17}[0-9X]$")
#: mainland mobile numbers: 11 digits, 1 then a network digit 3-9
MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
MIN_AGE, MAX_AGE = 18, 100  # a borrower is an adult; older than 100 is a typo


def check_character(first17: str) -> str:
    return CHECK[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


def birth_date(id_number: str) -> date | None:
    """The birth date inside the number (None when it is not a real date)."""
    try:
        return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        return None


def id_number_problem(id_number: str) -> str | None:
    """Why ``id_number`` is not a valid resident ID number, or None when it is."""
    if not FORMAT.match(id_number):
        return "must be 18 characters: 17 digits and a digit or X"
    if id_number[:6] == "000000" or id_number[:2] < "11":
        return "the region code is not a mainland region"
    if birth_date(id_number) is None:
        return "characters 7-14 are not a birth date"
    if check_character(id_number[:17]) != id_number[17]:
        return "the check character does not match (GB 11643): a typo?"
    return None


def age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def birth_date_problem(born: date, today: date, id_number: str | None = None) -> str | None:
    """Why ``born`` is not a plausible borrower's birth date (matching the ID, if given)."""
    if id_number is not None and not id_number_problem(id_number) and \
            birth_date(id_number) != born:
        return f"does not match the ID number's birth date {birth_date(id_number)}"
    if born > today:
        return "is in the future"
    age = age_on(born, today)
    if age < MIN_AGE:
        return f"the borrower must be at least {MIN_AGE}"
    if age > MAX_AGE:
        return f"is more than {MAX_AGE} years ago"
    return None
