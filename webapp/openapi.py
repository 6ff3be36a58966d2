"""The OpenAPI document says what the API does: money is a decimal *string* (with a pattern),
every error body fits one error schema (with the fields a 409 or a replay adds), and the
responses link to the next step of an application — create → authorisation → submit → plan →
contract → sign → liveness — so a client generator or a stateful fuzzer can walk the journey.
"""

from __future__ import annotations

from flask_smorest import Api
from marshmallow import Schema, fields

#: the step an answer leads to: (path, method, status) → link name → (path, method, params)
_ID_FROM_BODY = {"application_id": "$response.body#/id"}
_ID_FROM_PATH = {"application_id": "$request.path.application_id"}
_APP = "/applications/{application_id}"
LINKS: dict[tuple[str, str, str], dict[str, tuple[str, str, dict[str, str]]]] = {
    ("/applications", "post", "201"): {
        "UploadAuthorization": (f"{_APP}/authorization", "post", _ID_FROM_BODY),
        "GetApplication": (_APP, "get", _ID_FROM_BODY),
        "Submit": (f"{_APP}/submit", "post", _ID_FROM_BODY),
    },
    (f"{_APP}/authorization", "post", "201"): {
        "Submit": (f"{_APP}/submit", "post", _ID_FROM_PATH),
    },
    (f"{_APP}/submit", "post", "200"): {
        "ChoosePlan": (f"{_APP}/plan", "post", _ID_FROM_BODY),
        "History": (f"{_APP}/history", "get", _ID_FROM_BODY),
    },
    (f"{_APP}/plan", "post", "200"): {
        "CreateContract": (f"{_APP}/contract", "post", _ID_FROM_BODY),
    },
    (f"{_APP}/contract", "post", "201"): {
        "GetContract": (f"{_APP}/contract", "get", _ID_FROM_PATH),
        "SignContract": (f"{_APP}/contract/sign", "post", _ID_FROM_PATH),
    },
    (f"{_APP}/contract/sign", "post", "200"): {
        "Liveness": (f"{_APP}/liveness", "post", _ID_FROM_PATH),
    },
    (f"{_APP}/reapply", "post", "201"): {
        "GetApplication": (_APP, "get", {"application_id": "$response.body#/application/id"}),
    },
}


class ErrorSchema(Schema):
    """Every 4xx/5xx body (`webapp.errors`)."""

    class Meta:
        # a domain error may add fields a client acts on (`chedaitong.errors` ``details``)
        unknown = "include"

    code = fields.Integer(required=True, metadata={"description": "the HTTP status"})
    status = fields.String(required=True, metadata={"description": "its name"})
    message = fields.String(required=True, metadata={"description": "one sentence"})
    errors = fields.Dict(metadata={"description": "location (json, query, files, headers) → "
                                                  "field → reasons"})
    current_state = fields.String(metadata={"description": "409 on a refused step"})
    allowed_actions = fields.List(fields.String(), metadata={"description": "409 on a step"})
    application_id = fields.Integer(metadata={"description": "409 on a refused step"})
    serving = fields.Dict(metadata={"description": "422 on a refused rules reload"})


class ChedaitongApi(Api):
    ERROR_SCHEMA = ErrorSchema


def _escape(path: str) -> str:
    return path.replace("~", "~0").replace("/", "~1")


def money_as_string(self, field, ret, **kwargs) -> dict:
    """A Decimal sent as a string is documented as one: a pattern of its places instead of
    numeric bounds (kept as ``x-minimum``/``x-maximum``, and said in words)."""
    if not (isinstance(field, fields.Decimal) and field.as_string):
        return {}
    bounds = {k: ret.pop(k) for k in ("minimum", "maximum") if k in ret}
    places = -field.places.as_tuple().exponent if field.places is not None else 2
    out = {"type": "string", "format": "decimal",
           "pattern": rf"^-?\d{{1,13}}(\.\d{{1,{places}}})?$"}
    for k, v in bounds.items():
        out[f"x-{k}"] = str(v)
    if bounds:
        words = "from {} to {}".format(bounds.get("minimum", "-∞"), bounds.get("maximum", "∞"))
        out["description"] = f"{ret['description']}; {words}" if ret.get("description") \
            else words
    return out


def add_links(api: Api) -> None:
    """The links of `LINKS`, added to the registered operations (after every blueprint)."""
    paths = api.spec._paths  # apispec keeps them here until the document is rendered
    for (path, method, status), links in LINKS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue
        response["links"] = {
            name: {"operationRef": f"#/paths/{_escape(to)}/{to_method}", "parameters": params}
            for name, (to, to_method, params) in links.items() if to in paths}
