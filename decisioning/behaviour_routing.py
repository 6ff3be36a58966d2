"""Champion/challenger for the behaviour score of the nightly job: a routing policy of
purpose ``behaviour`` (same `routing.json`, same salted hash) sends a share of the loans to
the behaviour challenger, and every behaviour score row records its arm.

The arm is a pure function of the loan's key (``loan:<id>``) and the policy's salt, so a
loan stays in its arm night after night (its score trend is one model's) and a night can be
re-run to the same split. Segment filters read the loan's own features of that night
(e.g. ``lease_type``) when the frame has them. Without a behaviour champion nothing is
scored (as before); without a challenger or a policy every loan is the champion's.

Kept outside `decisioning.postloan` on purpose: the nightly inspection calls `score` and
`reasons` in place of `behaviour.score` / `behaviour.reasons` (a two-line hook).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from decisioning.postloan import behaviour
from decisioning.routing import CHALLENGER, RoutingStore, assign, routing_record

PURPOSE = "behaviour"
COLUMN = "behaviour_routing"


def loan_key(loan_id: Any) -> str:
    return f"loan:{int(loan_id)}"


def arms(frame: pd.DataFrame, loan_ids: Sequence[Any], model_root: str | None
         ) -> tuple[np.ndarray, list[dict[str, Any]] | None, Any, Any]:
    """(challenger mask, routing record per row or None, champion, challenger)."""
    champ = behaviour.champion(model_root)
    chall = behaviour.challenger(model_root) if champ is not None else None
    n = len(frame)
    if champ is None:
        return np.zeros(n, bool), None, None, None
    policy = RoutingStore(model_root).policy(PURPOSE) if model_root is not None else None
    if policy is None:  # every loan the champion's: the row's model_version says it all, and a
        return np.zeros(n, bool), None, champ, chall  # million-row night writes no record
    seg = {k: frame[k].to_numpy(dtype=object) if k in frame.columns else [None] * n
           for k in (policy.segment if policy else {})}
    mask = np.zeros(n, bool)
    records = []
    for i, loan_id in enumerate(loan_ids):
        a = assign(policy, loan_key(loan_id), {k: v[i] for k, v in seg.items()})
        to_challenger = a.arm == CHALLENGER and chall is not None
        mask[i] = to_challenger
        rec = routing_record(policy, a, champion=champ.version,
                             challenger=chall.version if chall is not None else None,
                             decided_by=(chall if to_challenger else champ).version)
        rec["purpose"] = PURPOSE
        records.append(rec)
    return mask, records, champ, chall


def score(frame: pd.DataFrame, loan_ids: Sequence[Any], model_root: str | None,
          threads: int = 2) -> tuple[pd.DataFrame, tuple]:
    """`behaviour.score` with the challenger scoring its share, plus `COLUMN` (the routing
    record of each row; None without a champion or a behaviour routing policy). The second
    value goes to `reasons`."""
    mask, records, champ, chall = arms(frame, loan_ids, model_root)
    if mask.any():  # each arm's rows scored by its model, in the frame's row order
        beh = pd.concat([behaviour.score(frame[~mask], champ, threads),
                         behaviour.score(frame[mask], chall, threads)]).reindex(frame.index)
    else:
        beh = behaviour.score(frame, champ, threads)
    beh[COLUMN] = records if records is not None else [None] * len(frame)
    return beh, (mask, champ, chall)


def reasons(frame: pd.DataFrame, routed: tuple, rows: np.ndarray, threads: int = 2
            ) -> list[list[str]]:
    """`behaviour.reasons`, each row explained by the model that scored it."""
    mask, champ, chall = routed
    out = behaviour.reasons(frame, champ, rows & ~mask, threads)
    if (rows & mask).any():
        theirs = behaviour.reasons(frame, chall, rows & mask, threads)
        out = [t if m else o for o, t, m in zip(out, theirs, mask, strict=True)]
    return out
