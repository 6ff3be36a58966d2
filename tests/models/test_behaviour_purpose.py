"""A second model purpose: behaviour versions live beside application versions, each purpose
with its own champion, challenger, history and promotion rule."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from chedaitong_sim.synthetic.behaviour_frames import behaviour_frame
from models.cli import model as model_cli
from models.errors import CorruptVersionError
from models.registry import Registry
from models.scoring import load_model
from models.train import train_and_register


@pytest.fixture(scope="module")
def behaviour_root(tmp_path_factory, fast_config_module):
    root = tmp_path_factory.mktemp("reg")
    reg = Registry(root, "behaviour")
    version, trained = train_and_register(behaviour_frame(3000, seed=5), reg,
                                          config=fast_config_module, report=False)
    return root, version, trained


@pytest.fixture(scope="module")
def fast_config_module():
    from tests.models.conftest import FAST

    return FAST


def test_behaviour_training_defaults_to_the_snapshot_target_and_loan_features(behaviour_root):
    root, version, trained = behaviour_root
    mv = Registry(root, "behaviour").load(version)
    assert mv.params["purpose"] == "behaviour"
    assert mv.read_json("features.json")["target"] == "bad_60dpd_6m"
    assert mv.read_json("features.json")["time"] == "snapshot_at"
    names = [s.name for s in mv.features]
    assert "days_past_due" in names and "application_score" in names
    assert "tp_score" not in names  # application evidence is not a behaviour input
    assert mv.oot_auc > 0.7  # the synthetic frame's signal is learnt
    # reason codes and grades as for the application score
    s = load_model(version, root, "behaviour").score(
        {"days_past_due": 40, "on_time_share": 0.4, "application_score": 520}, n_reasons=2)
    assert s.grade in "ABCDE" and s.reasons


def test_behaviour_grades_are_its_own_bands_learnt_from_its_training_pd(behaviour_root):
    """Not the application model's PD bands (which put nearly every loan in one grade): the
    best half of the training snapshots is A, the riskiest few E — stored with the version."""
    root, version, trained = behaviour_root
    grading = trained.model.scorecard.grading
    assert grading["method"] == "quantile" and "behaviour" in grading["why"]
    a, b, c, d, e = grading["shares"]
    assert 0.4 < a < 0.6 and 0.005 < e < 0.06 and b > d
    loaded = load_model(version, root, "behaviour").scorecard
    assert loaded.bands == trained.model.scorecard.bands
    assert loaded.grade_one(900) == "A" and loaded.grade_one(300) == "E"


def test_each_purpose_has_its_own_champion_and_history(behaviour_root):
    root, version, _ = behaviour_root
    beh = Registry(root, "behaviour")
    beh.promote(version, who="ana")
    assert beh.aliases()["champion"] == version
    assert Registry(root).aliases()["champion"] is None  # the application champion is unset
    assert Registry(root).versions() == []
    assert [e["to"] for e in beh.history()] == [version]
    assert Registry(root).history() == []
    # a behaviour version is never loaded as an application model (nor the reverse)
    with pytest.raises(CorruptVersionError, match="behaviour model"):
        Registry(root / "behaviour").load(version)
    assert load_model("champion", root, "behaviour").version == version


def test_cli_purpose_flag(behaviour_root):
    root, version, _ = behaviour_root
    runner = CliRunner()
    out = runner.invoke(model_cli, ["list", "--purpose", "behaviour", "--registry", str(root)])
    assert out.exit_code == 0 and version in out.output
    out = runner.invoke(model_cli, ["list", "--registry", str(root)])
    assert out.exit_code == 0 and "no versions" in out.output
