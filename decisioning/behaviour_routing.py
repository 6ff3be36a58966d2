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

import os
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from decisioning.postloan import behaviour
from decisioning.routing import CHALLENGER, RoutingStore, assign, routing_record

PURPOSE = "behaviour"
COLUMN = "behaviour_routing"


def _aliases_stamp(model_root: str | None) -> tuple | None:
    """The behaviour registry's alias generation (one ``stat``): a promotion changes it."""
    from models.registry import Registry

    try:
        st = os.stat(Registry(model_root, PURPOSE).root / "aliases.json")
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=8)
def _model(model_root: str | None, alias: str, stamp: tuple | None) -> Any:
    from models.registry import Registry
    from models.scoring import ScoringModel

    reg = Registry(model_root, PURPOSE)
    if reg.aliases().get(alias) is None:
        return None
    return ScoringModel.from_version(reg.load(alias))


def champion(model_root: str | None) -> Any:
    """The behaviour champion, loaded again after a promotion (a long-lived worker of the
    nightly job follows the registry like the decision service does), or None."""
    return _model(model_root, "champion", _aliases_stamp(model_root))


def challenger(model_root: str | None) -> Any:
    """The behaviour challenger (same cache and stamp), or None."""
    return _model(model_root, "challenger", _aliases_stamp(model_root))


def loan_key(loan_id: Any) -> str:
    return f"loan:{int(loan_id)}"


def arms(frame: pd.DataFrame, loan_ids: Sequence[Any], model_root: str | None
         ) -> tuple[np.ndarray, list[dict[str, Any]] | None, Any, Any]:
    """(challenger mask, routing record per row or None, champion, challenger)."""
    champ = champion(model_root)
    chall = challenger(model_root) if champ is not None else None
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
