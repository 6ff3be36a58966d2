"""Configuration problems surface as one clear sentence, at start-up."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from chedaitong.config import DEV_DATA_KEY, DEV_SECRET_KEY, ConfigError, Settings

ROOT = Path(__file__).resolve().parents[1]

BASE = {"CHEDAITONG_RULES_DIR": str(ROOT / "rules")}


def settings_from(**env: str) -> Settings:
    return Settings.from_env({**BASE, **env})


def test_defaults_give_a_sqlite_database_under_var(tmp_path):
    s = settings_from(CHEDAITONG_VAR_DIR=str(tmp_path))
    assert s.database_url == f"sqlite:///{tmp_path}/chedaitong.db"
    assert s.model_dir == tmp_path / "models"
    assert len(s.data_key) == 32
    assert s.env == "development"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL is not a database URL"),
        ({"DATABASE_URL": "mysql://u@h/db"}, "DATABASE_URL must be sqlite or postgresql"),
        ({"CHEDAITONG_ENV": "staging"}, "CHEDAITONG_ENV must be one of"),
        ({"CHEDAITONG_DATA_KEY": "***"}, "CHEDAITONG_DATA_KEY"),
        ({"CHEDAITONG_DATA_KEY": base64.urlsafe_b64encode(b"short").decode()}, "32 bytes"),
        ({"CHEDAITONG_RULES_DIR": "/nonexistent/rules"}, "is not a directory"),
        ({"CHEDAITONG_RULEZ_DIR": "rules"}, "unknown setting CHEDAITONG_RULEZ_DIR"),
        ({"CHEDAITONG_BUREAU_REFRESH_DAYS": "monthly"}, "CHEDAITONG_BUREAU_REFRESH_DAYS must be"),
        ({"CHEDAITONG_BUREAU_REFRESH_DAYS": "0"}, "at least 1"),
        ({"CHEDAITONG_BUREAU_REFRESH_PER_NIGHT": "-5"}, "at least 0"),
    ],
)
def test_invalid_settings_name_the_variable(env, message):
    with pytest.raises(ConfigError, match=message):
        settings_from(**env)


def test_production_refuses_development_secrets():
    good_key = base64.urlsafe_b64encode(b"p" * 32).decode()
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        settings_from(CHEDAITONG_ENV="production", CHEDAITONG_DATA_KEY=good_key)
    with pytest.raises(ConfigError, match="CHEDAITONG_DATA_KEY"):
        settings_from(
            CHEDAITONG_ENV="production", SECRET_KEY="x" * 40, CHEDAITONG_DATA_KEY=DEV_DATA_KEY
        )
    s = settings_from(
        CHEDAITONG_ENV="production", SECRET_KEY="x" * 40, CHEDAITONG_DATA_KEY=good_key
    )
    assert s.is_production and s.secret_key != DEV_SECRET_KEY


def test_the_nightly_bureau_refresh_policy_comes_from_the_settings(tmp_path):
    from datetime import timedelta

    from decisioning.postloan.cli import refresh_policy

    default = refresh_policy(settings_from(CHEDAITONG_VAR_DIR=str(tmp_path)))
    assert (default.max_age, default.per_night) == (timedelta(days=30), 500)
    set_ = refresh_policy(settings_from(CHEDAITONG_VAR_DIR=str(tmp_path),
                                        CHEDAITONG_BUREAU_REFRESH_DAYS="90",
                                        CHEDAITONG_BUREAU_REFRESH_PER_NIGHT="20"))
    assert (set_.max_age, set_.per_night) == (timedelta(days=90), 20)
