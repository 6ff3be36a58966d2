"""Domain errors: what went wrong, in the domain's words — never an HTTP status.

Domain packages (origination, decisioning, servicing) raise these; `webapp.errors` maps each
kind to one HTTP answer, once (NotFound 404, NotPermitted 403, Conflict 409, Invalid 422,
Unavailable 503, VendorFailed 502), and a CLI prints the message. ``details`` are extra fields
a client may act on (the current state and the allowed next steps of a refused transition, for
example).
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class; ``message`` is one sentence for the user, ``details`` JSON-ready extras."""

    def __init__(self, message: str, *, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.details = dict(details or {})


class NotFound(DomainError):
    """The thing does not exist, or is not visible to the one asking (not disclosed)."""


class Conflict(DomainError):
    """The request is well-formed but the current state does not allow it."""


class NotPermitted(DomainError):
    """The one asking may see the thing but may not do this to it (a role or a duty rule,
    e.g. the reviewer who approved the credit approving the disbursement too)."""


class Invalid(DomainError):
    """One input field is wrong: ``field`` names it, ``reason`` says why (``reason`` may be a
    list or mapping of per-item reasons, e.g. the bad records of a device upload)."""

    def __init__(self, field: str, reason: Any, *, message: str | None = None,
                 details: dict[str, Any] | None = None):
        super().__init__(message or f"{field}: {reason}", details=details)
        self.field = field
        self.reason = reason


class Rejected(DomainError):
    """The input as a whole was refused (no single field to blame), e.g. invalid rule files."""


class Unavailable(DomainError):
    """A part the request needs is not configured or not loaded (no vendor URL, no rule
    book): the operator can fix it, retrying as is cannot."""


class VendorFailed(DomainError):
    """An external vendor gave no usable answer (timeout, outage, open circuit, bad reply).

    ``vendor`` names it; nothing was changed, so the same request may be retried later.
    """

    def __init__(self, vendor: str, failure: str):
        super().__init__(f"the {vendor} service is unavailable, try again ({failure})")
        self.vendor = vendor
        self.failure = failure
