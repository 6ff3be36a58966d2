"""Keyword classification of uploaded SMS: the only place SMS text is read.

The app uploads messages that contain risk keywords; here each text becomes a kind
(`collection`, `lending`, `credit_card`, or nothing) and, when a lending platform signs the
message (``【某某贷】…``), a keyed digest of the platform's name. The text itself never leaves
this module: facts carry the kind and the digest only.
"""

from __future__ import annotations

import re

import pandas as pd

# Checked in this order: a collection notice from a credit-card issuer is a collection notice.
KIND_PATTERNS: list[tuple[str, str]] = [
    ("collection", r"逾期|催收|欠款|拖欠|违约|法务|诉讼|上门|征信.{0,4}影响|立即还款|尽快还款"),
    ("credit_card", r"信用卡|账单|卡号尾号|最低还款"),
    ("lending", r"借款|贷款|额度|放款|分期|借钱|秒到账|网贷|提现"),
]
# A sender signature at the start or end: 【平台名】.
SIGNATURE = re.compile(r"【([^】]{1,20})】")
# Signatures that are banks, card issuers, couriers, collection agencies and the like are not
# lending platforms; an agency collecting for a lender names it: 受<lender>委托.
NON_LENDER_SIGNATURE = re.compile(
    r"银行|快递|顺丰|京东物流|中通|圆通|韵达|运营商|移动|联通|电信|淘宝|美团|车贷通"
    r"|资产管理|商务咨询|信息服务|法务|律师"
)
DELEGATED_BY = re.compile(r"受【?([^】，,。\s]{2,12}?)】?委托")


def classify(texts: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Return (kind or <NA>, lending-platform name or <NA>) for each text, vectorised."""
    texts = texts.astype("string").fillna("")
    kind = pd.Series(pd.NA, index=texts.index, dtype="string")
    for name, pattern in reversed(KIND_PATTERNS):  # earlier patterns win: write them last
        kind = kind.mask(texts.str.contains(pattern, regex=True), name)
    signature = texts.str.extract(SIGNATURE, expand=False).astype("string")
    lender = signature.where(~signature.fillna("").str.contains(NON_LENDER_SIGNATURE))
    lender = texts.str.extract(DELEGATED_BY, expand=False).astype("string").fillna(lender)
    # Only lending and collection messages name a lending platform worth counting.
    lender = lender.where(kind.isin(["lending", "collection"]))
    return kind, lender
