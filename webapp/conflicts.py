"""A unique-constraint violation is a 409 naming the conflicting field, never a 500.

The domain checks "does it exist yet?" before inserting, but two concurrent requests can both
pass the check; the database's unique constraint then refuses the second insert. That is the
client's duplicate (the same upload twice, a second plan choice), so it is answered as a
conflict on the field the client can act on, read from the constraint the database names.
"""

from __future__ import annotations

import re

from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import Conflict

from chedaitong.db import Base

#: table.column → the API's name for it (where the stored column is not what the client sent)
FIELD_NAMES = {
    "customers.id_number_index": "id_number",
    "customers.user_id": "profile",
    "raw_events.dedupe_key": "records",
    "users.username": "username",
    "stored_documents.kind": "file",
    "plan_choices.application_id": "plan",
    "loan_contracts.application_id": "contract",
    "vouchers.application_id": "voucher",
    "loans.application_id": "loan",
    "feature_vectors.entity_id": "records",
    "idempotency_keys.key": "Idempotency-Key",
}
#: what the 409 says for a table (default: "already exists")
WHAT = {
    "raw_events": "these records are being stored by a concurrent identical upload",
    "feature_vectors": "a concurrent upload is updating the same customer; retry",
    "customers": "a customer profile with this value already exists",
    "stored_documents": "this document was already uploaded",
    "plan_choices": "a plan was already chosen",
    "loan_contracts": "the contract was already created",
    "vouchers": "the voucher was already issued",
    "loans": "the loan was already booked",
}
#: where the field is in the request (default: the JSON body)
LOCATIONS = {"stored_documents": "files", "idempotency_keys": "headers"}
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)")


def _unique_columns() -> dict[str, tuple[str, list[str]]]:
    """constraint or unique-index name → (table, columns), from the declared schema."""
    found: dict[str, tuple[str, list[str]]] = {}
    for table in Base.metadata.tables.values():
        for constraint in table.constraints:
            cols = [c.name for c in getattr(constraint, "columns", [])]
            if constraint.name and cols:
                found[str(constraint.name)] = (table.name, cols)
        for index in table.indexes:
            if index.unique and index.name:
                found[str(index.name)] = (table.name, [c.name for c in index.columns])
    return found


def violated(exc: IntegrityError) -> tuple[str, list[str]] | None:
    """(table, columns) of the unique constraint ``exc`` reports, or None for another kind."""
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == "23505":  # PostgreSQL unique_violation
        name = getattr(getattr(orig, "diag", None), "constraint_name", None)
        table = getattr(getattr(orig, "diag", None), "table_name", None) or "?"
        return _unique_columns().get(str(name), (table, [str(name)]))
    m = _SQLITE_UNIQUE.search(str(orig))
    if m:
        pairs = [p.strip().split(".", 1) for p in m.group(1).split(",")]
        return pairs[0][0], [p[-1] for p in pairs]
    return None


def field_of(table: str, columns: list[str]) -> str:
    """The one field the client can act on: the most specific column the API names."""
    for column in reversed(columns):
        if f"{table}.{column}" in FIELD_NAMES:
            return FIELD_NAMES[f"{table}.{column}"]
    return columns[-1]


def conflict_for(exc: IntegrityError) -> Conflict | None:
    """The 409 for a unique violation (None: not one, let it be a 500)."""
    found = violated(exc)
    if found is None:
        return None
    table, columns = found
    field = field_of(table, columns)
    what = WHAT.get(table, "already exists")
    err = Conflict(f"{field}: {what}")
    err.data = {"messages": {LOCATIONS.get(table, "json"): {field: [what]}}}
    return err
