"""Schemas of what the user app uploads: validated before anything is stored.

An upload is all-or-nothing: one bad record (coordinates out of range, a timestamp in the
future, an unknown field) rejects the batch with the record's index, field and reason, so the
app can fix and resend it; nothing of a rejected batch is stored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

MAX_BATCH = 5000
CLOCK_SKEW = timedelta(minutes=5)  # phones' clocks drift; beyond this a time is "future"
#: no app data predates smartphones; 0001-01-01 or 1970-01-01 is a clock that was never set
EARLIEST_EVENT = datetime(2005, 1, 1, tzinfo=UTC)


class UploadRejected(ValueError):
    """The upload is invalid; ``errors`` maps record index → field → messages."""

    def __init__(self, message: str, errors: dict | None = None):
        super().__init__(message)
        self.errors = errors or {}


class _Record(Schema):
    class Meta:
        unknown = RAISE

    now: datetime | None = None  # set per load; compared with event times

    @validates_schema
    def _not_in_future(self, data, **_):
        when = data.get("event_time")
        if when is not None and when > (self.now or datetime.now(UTC)) + CLOCK_SKEW:
            raise ValidationError("is in the future", field_name="event_time")
        if when is not None and when < EARLIEST_EVENT:
            raise ValidationError(f"is before {EARLIEST_EVENT:%Y-%m-%d}: a phone's unset clock?",
                                  field_name="event_time")


def _latitude() -> fields.Float:
    return fields.Float(required=True, allow_nan=False, validate=validate.Range(-90, 90))


def _longitude() -> fields.Float:
    return fields.Float(required=True, allow_nan=False, validate=validate.Range(-180, 180))


def _when() -> fields.AwareDateTime:
    return fields.AwareDateTime(required=True, default_timezone=UTC)


class GpsPing(_Record):
    event_time = _when()
    lat = _latitude()
    lon = _longitude()


class Photo(_Record):
    event_time = _when()
    lat = _latitude()
    lon = _longitude()


class Sms(_Record):
    event_time = _when()
    sender = fields.String(required=True, validate=validate.Length(1, 32))
    text = fields.String(required=True, validate=validate.Length(1, 1000))


class Contact(_Record):
    phone = fields.String(required=True, validate=validate.Regexp(r"^\+?\d{3,20}$"))
    tag = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(["blacklist", "loan_company"])
    )


class AppEvent(_Record):
    event_time = _when()
    event = fields.String(required=True, validate=validate.OneOf(["install", "uninstall"]))


class VehicleFix(_Record):
    """A position from the vehicle's GPS tracker (sent by the tracker vendor, not the app);
    the vendor reverse-geocodes the province."""

    event_time = _when()
    lat = _latitude()
    lon = _longitude()
    province = fields.String(required=True, validate=validate.Length(1, 64))
    speed_kmh = fields.Float(load_default=None, allow_none=True, allow_nan=False,
                             validate=validate.Range(0, 300))


DEVICE_SOURCES: dict[str, type[_Record]] = {
    "gps": GpsPing,
    "photo": Photo,
    "sms": Sms,
    "contact": Contact,
    "app": AppEvent,
    "vehicle_gps": VehicleFix,
}


def validate_upload(source: str, records: object, now: datetime | None = None) -> list[dict]:
    """Return the parsed records or raise `UploadRejected` naming every bad record."""
    if source not in DEVICE_SOURCES:
        raise UploadRejected(f"unknown source {source!r}; expected one of {sorted(DEVICE_SOURCES)}")
    if not isinstance(records, list) or not records:
        raise UploadRejected("records must be a non-empty list")
    if len(records) > MAX_BATCH:
        raise UploadRejected(f"batch of {len(records)} records exceeds the limit of {MAX_BATCH}")
    schema = DEVICE_SOURCES[source](many=True)
    schema.now = now or datetime.now(UTC)
    try:
        return schema.load(records)
    except ValidationError as exc:
        errors = exc.messages if isinstance(exc.messages, dict) else {"_": exc.messages}
        first = next(iter(errors.items()))
        raise UploadRejected(f"record {first[0]}: {first[1]}", errors) from None
