"""The catalog is the single definition of every feature, and its docs are generated from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from featurestore.definitions import CatalogError, catalog, load_catalog
from featurestore.docs import features_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_catalog_covers_the_evidence_the_seed_names():
    cat = catalog()
    for name in (
        "sms_collection_90d",
        "contacts_blacklisted",
        "photo_home_median_km",
        "liveness_score",
        "bureau_inquiries_3m",
        "installment_to_income",
        "vehicle_gps_offline_days_30d",
        "app_uninstalled",
    ):
        assert name in cat
    assert {f.entity for f in cat.values()} == {"application", "loan", "decision"}


def test_generated_docs_are_current():
    committed = (ROOT / "docs" / "features.md").read_text(encoding="utf-8")
    assert committed == features_markdown(catalog()), "run `chedaitong features docs`"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "x: {dtype: text, entity: application, source: s, description: d, missing: m,"
            " direction: 1, owner: o}",
            "dtype must be one of",
        ),
        (
            "x: {dtype: int, entity: application, source: s, description: d, missing: m,"
            " direction: 2, owner: o}",
            "direction must be",
        ),
        (
            "x: {dtype: int, entity: application, source: s, description: d, missing: m,"
            " direction: 1}",
            "missing field",
        ),
        (
            "x: {dtype: category, entity: application, source: s, description: d, missing: m,"
            " direction: 0, owner: o}",
            "categories are required",
        ),
    ],
)
def test_malformed_catalog_entries_are_refused_with_the_feature_named(tmp_path, body, message):
    path = tmp_path / "catalog.yaml"
    path.write_text("features:\n  " + body + "\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=message):
        load_catalog(path)


def test_sms_classifier_names_the_lender_not_the_collection_agency():
    import pandas as pd

    from featurestore.sms import classify

    kind, lender = classify(pd.Series([
        "【恒信资产管理】受锦程小贷委托，您的借款已逾期，请尽快处理。",
        "【锦程小贷】您的借款已逾期3天，请立即还款。",
        "【招商银行】您的信用卡账单已出，最低还款100元。",
        "【顺丰速运】您的快递已送达。",
    ]))
    assert list(kind.fillna("-")) == ["collection", "collection", "credit_card", "-"]
    assert list(lender.fillna("-")) == ["锦程小贷", "锦程小贷", "-", "-"]
