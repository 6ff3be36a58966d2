"""Credit-bureau reports (PBOC and third-party JSON) → facts.

Reports are parsed in bulk by Arrow's JSON reader against an explicit schema — a world has
hundreds of thousands of them, and a report that does not fit the schema is refused as a
whole before anything of it is stored. Amounts inside reports are whole yuan.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from featurestore.extract import Digest, concat_facts, digest_all, facts_frame
from featurestore.facts import to_utc

LENDER_INQUIRY_REASONS = ("loan_approval", "credit_card_approval")
#: Days before a report within which a loan opened at another lender becomes a `loan_opened` fact.
LOAN_OPENED_WINDOW_DAYS = 180
REPORT_TIMEZONE = "Asia/Shanghai"  # dates inside reports are China Standard Time
#: The institution name PBOC lists the lender's own loans under: a refreshed report shows our
#: loan like any other, and "new loans at other lenders since booking" must leave it out.
OWN_INSTITUTION = "车贷通融资租赁有限公司"

_ACCOUNT = {
    "institution": pa.string(),
    "opened_on": pa.string(),
    "status": pa.string(),
    "overdue_amount": pa.float64(),
    "balance": pa.float64(),
    "repayment_24m": pa.string(),
}
PBOC_SCHEMA = pa.schema(
    {
        "report_id": pa.string(),
        "loans": pa.list_(pa.struct(_ACCOUNT)),
        "cards": pa.list_(pa.struct({**_ACCOUNT, "credit_limit": pa.float64()})),
        "inquiries": pa.list_(
            pa.struct({"date": pa.string(), "institution": pa.string(), "reason": pa.string()})
        ),
    }
)
THIRDPARTY_SCHEMA = pa.schema(
    {
        "report_id": pa.string(),
        "score": pa.float64(),
        "blacklist": pa.struct({"hit": pa.bool_()}),
        "multi_lending": pa.struct({"platforms_90d": pa.float64()}),
    }
)


class BureauReportError(ValueError):
    """A report does not parse or lacks what the features need; nothing of it is stored."""


def _read(texts: pd.Series, schema: pa.Schema, required: list[str]) -> pa.Table:
    lines = texts.astype(str).str.replace("\n", " ", regex=False)
    buf = ("\n".join(lines) + "\n").encode()
    try:
        table = pajson.read_json(
            io.BytesIO(buf),
            parse_options=pajson.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="ignore", newlines_in_values=False
            ),
            read_options=pajson.ReadOptions(block_size=1 << 24),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise BureauReportError(f"report does not parse: {exc}") from None
    if table.num_rows != len(texts):
        raise BureauReportError("report does not parse: expected one JSON object per report")
    for name in required:
        if table.column(name).null_count:
            raise BureauReportError(f"report lacks required field {name!r}")
    return table


def _local_dates(values: pa.Array) -> pd.Series:
    d = pd.to_datetime(pd.Series(values.to_pandas()), format="%Y-%m-%d", errors="coerce")
    return to_utc(d.dt.tz_localize(REPORT_TIMEZONE))


def _accounts(table: pa.Table, column: str) -> pd.DataFrame:
    lists = table.column(column).combine_chunks()
    flat = pc.list_flatten(lists)
    parent = pc.list_parent_indices(lists).to_numpy()
    frame = pd.DataFrame(
        {name: flat.field(name).to_pandas() for name in flat.type.names if name != "opened_on"}
    )
    frame["opened"] = _local_dates(flat.field("opened_on"))
    frame["opened_on"] = flat.field("opened_on").to_pandas()
    frame["report"] = parent
    return frame


def _per_report(n: int, series: pd.Series, fill: float = np.nan) -> np.ndarray:
    return series.reindex(range(n), fill_value=fill).to_numpy(dtype="float64")


def pboc_facts(raw: pd.DataFrame, digest: Digest) -> pd.DataFrame:
    """raw: customer_id, reported_at, report_json (the PBOC vendor document)."""
    if raw.empty:
        return concat_facts([])
    table = _read(raw["report_json"], PBOC_SCHEMA, ["loans", "cards", "inquiries"])
    n = table.num_rows
    cust, at = raw["customer_id"].to_numpy(), raw["reported_at"].to_numpy()
    loans, cards = _accounts(table, "loans"), _accounts(table, "cards")
    accounts = pd.concat([loans, cards], ignore_index=True)

    worst = (
        accounts["repayment_24m"]
        .fillna("")
        .str.findall(r"[1-7]")
        .map(lambda ds: max(map(int, ds), default=0))
    )
    epoch_days = (accounts["opened"] - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(days=1)
    has_accounts = _per_report(n, accounts.groupby("report").size(), 0.0) > 0
    has_cards = _per_report(n, cards.groupby("report").size(), 0.0) > 0
    snapshot = {
        "report": np.ones(n),
        "overdue_amount": _per_report(n, accounts.groupby("report")["overdue_amount"].sum(), 0.0),
        "card_limit": np.where(
            has_cards, _per_report(n, cards.groupby("report")["credit_limit"].sum(), 0.0), np.nan
        ),
        "card_balance": np.where(
            has_cards, _per_report(n, cards.groupby("report")["balance"].sum(), 0.0), np.nan
        ),
        "own_overdue_amount": _per_report(
            n,
            accounts["overdue_amount"].where(accounts["institution"] == OWN_INSTITUTION)
            .groupby(accounts["report"]).sum(),
            0.0,
        ),
        "open_loans": _per_report(
            n, (loans["status"] == "open").groupby(loans["report"]).sum(), 0.0
        ),
        "own_open_loans": _per_report(
            n,
            ((loans["status"] == "open") & (loans["institution"] == OWN_INSTITUTION))
            .groupby(loans["report"]).sum(),
            0.0,
        ),
        "oldest_account": _per_report(n, epoch_days.groupby(accounts["report"]).min()),
        "worst_status_24m": np.where(
            has_accounts, _per_report(n, worst.groupby(accounts["report"]).max(), 0.0), np.nan
        ),
    }
    # one frame for every snapshot kind (normalising a frame costs the same for 1 row or 7)
    kinds = list(snapshot)
    parts = [facts_frame(np.tile(cust, len(kinds)), "pboc", np.repeat(kinds, n).tolist(),
                         np.tile(at, len(kinds)), np.tile(at, len(kinds)),
                         value=np.concatenate([snapshot[k] for k in kinds]))]

    inq_lists = table.column("inquiries").combine_chunks()
    flat = pc.list_flatten(inq_lists)
    parent = pc.list_parent_indices(inq_lists).to_numpy()
    inq = pd.DataFrame(
        {
            "reason": flat.field("reason").to_pandas(),
            "institution": flat.field("institution").to_pandas(),
            "date": flat.field("date").to_pandas(),
            "when": _local_dates(flat.field("date")),
            "report": parent,
        }
    )
    inq = inq[inq["reason"].isin(LENDER_INQUIRY_REASONS) & inq["when"].notna()]
    # The same inquiry reappears in every monthly refresh; its digest lets features count it once.
    key = digest_all(inq["institution"].fillna("") + "|" + inq["date"], digest)
    parts.append(
        facts_frame(
            cust[inq["report"]],
            "pboc",
            "inquiry",
            inq["when"].to_numpy(),
            at[inq["report"]],
            key=key.to_numpy(dtype=object),
        )
    )
    # Loans at other lenders by their opening date, for the behaviour score's "new loans since
    # booking": like an inquiry the same loan reappears in every refresh and its digest counts
    # it once. Only those opened in the half year before the report (a monthly refresh has
    # listed anything older already; an application report needs none of them). The lender's
    # own loans are no loans at other lenders: a second loan with us would otherwise count.
    reported = to_utc(pd.Series(at)).iloc[loans["report"].to_numpy()].reset_index(drop=True)
    since = reported - pd.Timedelta(days=LOAN_OPENED_WINDOW_DAYS)
    recent = loans[(loans["opened"].reset_index(drop=True) >= since).to_numpy()
                   & (loans["institution"] != OWN_INSTITUTION).to_numpy()]
    opened_key = digest_all(recent["institution"].fillna("") + "|" + recent["opened_on"],
                            digest)
    parts.append(
        facts_frame(
            cust[recent["report"]],
            "pboc",
            "loan_opened",
            recent["opened"].to_numpy(),
            at[recent["report"]],
            key=opened_key.to_numpy(dtype=object),
        )
    )
    return concat_facts(parts)


def thirdparty_facts(raw: pd.DataFrame, digest: Digest) -> pd.DataFrame:  # noqa: ARG001
    """raw: customer_id, reported_at, report_json (the third-party vendor document)."""
    if raw.empty:
        return concat_facts([])
    table = _read(raw["report_json"], THIRDPARTY_SCHEMA, ["score", "blacklist"])
    cust, at = raw["customer_id"].to_numpy(), raw["reported_at"].to_numpy()
    hit = table.column("blacklist").combine_chunks().field("hit").to_numpy(zero_copy_only=False)
    multi = table.column("multi_lending").combine_chunks().field("platforms_90d")
    values = {"score": table.column("score").to_numpy(), "blacklist": hit.astype("float64"),
              "multi_lending": multi.to_numpy(zero_copy_only=False)}
    n = len(cust)
    return concat_facts([facts_frame(
        np.tile(cust, 3), "thirdparty", np.repeat(list(values), n).tolist(), np.tile(at, 3),
        np.tile(at, 3), value=np.concatenate([np.asarray(v, dtype="float64")
                                             for v in values.values()]))])
