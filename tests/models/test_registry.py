"""Registry: promotion rules, rollback, alias history, corrupt folders refused with their path."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace

import pytest
from click.testing import CliRunner

from featurestore import catalog
from models.cli import model as model_cli
from models.errors import CorruptVersionError, PromotionRefused, RegistryError
from models.scoring import load_challenger, load_champion, score_with_shadow, shadow_frame
from models.train import train_and_register


@pytest.fixture
def two_versions(registry_copy, frame, fast_config):
    """v0001: the session model; v0002: a weak model on two uninformative features."""
    reg, good = registry_copy
    weak, _ = train_and_register(frame, reg, features=["gps_pings_90d", "photo_gps_points"],
                                 config=fast_config, report=False)
    assert reg.load(weak).oot_auc < reg.load(good).oot_auc
    return reg, good, weak


def test_promote_refuses_worse_oot_auc_unless_forced(two_versions):
    reg, good, weak = two_versions
    first = reg.promote(good, who="alice")
    assert first["from"] is None and first["to"] == good and first["who"] == "alice"
    with pytest.raises(PromotionRefused, match="below champion"):
        reg.promote(weak)
    assert reg.aliases()["champion"] == good
    forced = reg.promote(weak, force=True, who="bob", note="incident drill")
    assert forced["forced"] and reg.aliases()["champion"] == weak
    log = reg.history()
    assert [(e["from"], e["to"], e["who"]) for e in log] == [(None, good, "alice"),
                                                             (good, weak, "bob")]
    assert all(e["at"] and e["action"] == "promote" for e in log)


def test_rollback_restores_previous_champion(two_versions):
    reg, good, weak = two_versions
    reg.promote(good)
    reg.promote(weak, force=True)
    entry = reg.rollback()
    assert (entry["from"], entry["to"], entry["action"]) == (weak, good, "rollback")
    assert reg.aliases()["champion"] == good
    assert load_champion(reg.root).version == good
    with pytest.raises(RegistryError, match="no earlier champion"):
        reg.rollback()
    assert len(reg.history()) == 3  # append-only: the rollback is logged too


def test_alias_file_is_replaced_atomically(two_versions, frame):
    reg, good, weak = two_versions
    reg.promote(good)
    reg.promote(weak, alias="challenger")
    assert json.loads((reg.root / "aliases.json").read_text()) == {"champion": good,
                                                                   "challenger": weak}
    assert not [p for p in os.listdir(reg.root) if p.endswith(".tmp")]
    champion, challenger = load_champion(reg.root), load_challenger(reg.root)
    both = score_with_shadow(champion, challenger, {"tp_score": 500})
    assert both.champion.version == good and both.challenger.version == weak
    side = shadow_frame(champion, challenger, frame.head(20))
    assert {"champion_model_pd", "challenger_model_pd", "challenger_risk_grade"} <= set(side)
    assert (side["challenger_model_version"] == weak).all()
    # promoting the challenger to champion clears the challenger alias
    reg.promote(weak, force=True)
    assert reg.aliases() == {"champion": weak, "challenger": None}
    assert load_challenger(reg.root) is None


def test_shadow_failure_never_breaks_the_champion(registry_copy):
    reg, good = registry_copy
    reg.promote(good)
    champion = load_champion(reg.root)

    class Broken:
        def score(self, *a, **k):
            raise RuntimeError("boom")

    res = score_with_shadow(champion, Broken(), {})  # type: ignore[arg-type]
    assert res.champion.version == good and res.challenger is None
    assert "boom" in (res.challenger_error or "")


def test_promotion_refuses_features_the_store_cannot_provide(registry_copy):
    reg, good = registry_copy
    cat = dict(catalog())
    cat["tp_score"] = replace(cat["tp_score"], dtype="float")
    with pytest.raises(PromotionRefused, match="tp_score is int in the model but float"):
        reg.promote(good, cat=cat, force=True)
    del cat["tp_score"]
    with pytest.raises(PromotionRefused, match="not in the feature catalog"):
        reg.promote(good, cat=cat, force=True)
    assert reg.aliases()["champion"] is None and reg.history() == []


@pytest.mark.parametrize("damage", ["delete", "modify", "no_manifest", "bad_json"])
def test_corrupt_version_is_refused_with_its_path(registry_copy, damage):
    reg, version = registry_copy
    path = reg.root / version
    if damage == "delete":
        (path / "calibrator.json").unlink()
    elif damage == "modify":
        target = path / "model.txt"
        target.chmod(0o644)
        target.write_text(target.read_text().replace("leaf_value=", "leaf_value=1", 1))
    elif damage == "no_manifest":
        (path / "manifest.json").unlink()
    else:
        target = path / "metrics.json"
        target.chmod(0o644)
        target.write_text("{not json")
    with pytest.raises(CorruptVersionError) as err:
        reg.load(version)
    assert str(path) in str(err.value)
    with pytest.raises(CorruptVersionError):
        reg.promote(version)
    rows = reg.summary()
    assert "error" in rows[0]


def test_unknown_versions_and_aliases(registry_copy):
    reg, _ = registry_copy
    with pytest.raises(RegistryError, match="no version v0042"):
        reg.load("v0042")
    with pytest.raises(RegistryError, match="no champion"):
        load_champion(reg.root)
    with pytest.raises(RegistryError):
        reg.load("latest")
    assert load_challenger(reg.root) is None


def test_staging_leftovers_are_not_versions(registry_copy):
    reg, version = registry_copy
    shutil.copytree(reg.root / version, reg.root / ".staging-v0002-123")
    assert reg.versions() == [version]


def test_cli_list_promote_rollback(two_versions):
    reg, good, weak = two_versions
    run = CliRunner().invoke
    r = run(model_cli, ["promote", good, "--registry", str(reg.root)])
    assert r.exit_code == 0, r.output
    r = run(model_cli, ["promote", weak, "--registry", str(reg.root)])
    assert r.exit_code == 1
    assert r.stderr.startswith("error: ") and "below champion" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = run(model_cli, ["promote", weak, "--force", "--registry", str(reg.root)])
    assert r.exit_code == 0 and "(forced)" in r.output
    r = run(model_cli, ["list", "--registry", str(reg.root)])
    assert r.exit_code == 0 and good in r.output and "champion" in r.output
    r = run(model_cli, ["rollback", "--registry", str(reg.root)])
    assert r.exit_code == 0 and f"{weak} → {good}" in r.output
    r = run(model_cli, ["history", "--registry", str(reg.root)])
    assert r.exit_code == 0 and len(r.output.strip().splitlines()) == 3
