"""Settings read once from environment variables, validated at start-up.

Every problem is reported as one `ConfigError` sentence naming the variable, so the CLI and
the web app can print it and exit instead of failing later with a traceback.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENVIRONMENTS = ("development", "test", "production")
# Development defaults: convenient locally, refused in production.
DEV_SECRET_KEY = "dev-secret-key-do-not-use-in-production"
DEV_DATA_KEY = base64.urlsafe_b64encode(b"chedaitong-dev-data-key-32bytes!").decode()

# The variables this project reads; any other CHEDAITONG_* variable is a typo worth stopping on.
KNOWN_VARIABLES = {
    "CHEDAITONG_ENV": "development | test | production",
    "DATABASE_URL": "SQLAlchemy URL; default sqlite:///<var dir>/chedaitong.db",
    "SECRET_KEY": "signs session cookies and tokens",
    "CHEDAITONG_DATA_KEY": "url-safe base64 of 32 bytes; encrypts raw device data and identifiers",
    "CHEDAITONG_VAR_DIR": "runtime files (database, models, uploads); default ./var",
    "CHEDAITONG_RULES_DIR": "rule files; default ./rules",
    "CHEDAITONG_MODEL_DIR": "model registry; default <var dir>/models",
    "CHEDAITONG_VENDOR_URL": "base URL of the vendor services (sandbox or real)",
    "CHEDAITONG_QUEUE_URL": "redis:// URL of the decision queue (`chedaitong worker`); "
                            "unset: the web process decides on an in-process worker",
    # read by the project's own tooling (Makefile, tests/browser), never by the platform
    "CHEDAITONG_SKIP_BROWSER": "1 skips the headless-browser tests in `make test`",
}


class ConfigError(ValueError):
    """A setting is missing or invalid; the message is one sentence for the operator."""


def check_known_variables(environ: Mapping[str, str]) -> None:
    """Raise `ConfigError` for a ``CHEDAITONG_*`` variable this project does not read (a typo
    that would otherwise be silently ignored)."""
    unknown = sorted(
        k for k in environ if k.startswith("CHEDAITONG_") and k not in KNOWN_VARIABLES
    )
    if unknown:
        raise ConfigError(
            f"unknown setting {unknown[0]}; known: "
            + ", ".join(k for k in KNOWN_VARIABLES if k.startswith("CHEDAITONG_"))
        )


@dataclass(frozen=True)
class Settings:
    env: str
    database_url: str
    secret_key: str
    data_key: bytes
    var_dir: Path
    rules_dir: Path
    model_dir: Path
    vendor_url: str | None = None
    queue_url: str | None = None

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``environ`` (default ``os.environ``); ``overrides`` win."""
        environ = os.environ if environ is None else environ
        check_known_variables(environ)
        env = str(overrides.pop("env", environ.get("CHEDAITONG_ENV", "development")))
        if env not in ENVIRONMENTS:
            raise ConfigError(
                f"CHEDAITONG_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}"
            )
        var_dir = Path(overrides.pop("var_dir", environ.get("CHEDAITONG_VAR_DIR", "var"))).resolve()
        values = {
            "env": env,
            "var_dir": var_dir,
            "database_url": environ.get("DATABASE_URL") or f"sqlite:///{var_dir / 'chedaitong.db'}",
            "secret_key": environ.get("SECRET_KEY", DEV_SECRET_KEY),
            "data_key": environ.get("CHEDAITONG_DATA_KEY", DEV_DATA_KEY),
            "rules_dir": environ.get("CHEDAITONG_RULES_DIR", "rules"),
            "model_dir": environ.get("CHEDAITONG_MODEL_DIR", str(var_dir / "models")),
            "vendor_url": environ.get("CHEDAITONG_VENDOR_URL") or None,
            "queue_url": environ.get("CHEDAITONG_QUEUE_URL") or None,
        }
        values.update(overrides)
        return cls._validated(**values)

    @classmethod
    def _validated(cls, **v: object) -> Settings:
        # imported here: `chedaitong --help` reads this module and must stay quick
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        url = str(v["database_url"])
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise ConfigError(f"DATABASE_URL is not a database URL: {url!r}") from None
        if parsed.get_backend_name() not in ("sqlite", "postgresql"):
            raise ConfigError(
                f"DATABASE_URL must be sqlite or postgresql, not {parsed.get_backend_name()!r}"
            )
        raw_key = v["data_key"]
        data_key = raw_key if isinstance(raw_key, bytes) else _decode_key(str(raw_key))
        rules_dir = Path(str(v["rules_dir"])).resolve()
        if not rules_dir.is_dir():
            raise ConfigError(f"CHEDAITONG_RULES_DIR {rules_dir} is not a directory")
        secret_key = str(v["secret_key"])
        if v["env"] == "production":
            if secret_key == DEV_SECRET_KEY or len(secret_key) < 32:
                raise ConfigError(
                    "SECRET_KEY must be set to a random value of 32+ characters in production"
                )
            if raw_key == DEV_DATA_KEY or data_key == _decode_key(DEV_DATA_KEY):
                raise ConfigError(
                    "CHEDAITONG_DATA_KEY must be set to a production key in production"
                )
        return cls(
            env=str(v["env"]),
            database_url=url,
            secret_key=secret_key,
            data_key=data_key,
            var_dir=Path(str(v["var_dir"])),
            rules_dir=rules_dir,
            model_dir=Path(str(v["model_dir"])).resolve(),
            vendor_url=v.get("vendor_url") or None,  # type: ignore[arg-type]
            queue_url=_queue_url(v.get("queue_url")),
        )


def _queue_url(value: object) -> str | None:
    if not value:
        return None
    url = str(value)
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"CHEDAITONG_QUEUE_URL must be a redis:// URL, not {url!r}")
    return url


def _decode_key(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.encode())
    except (binascii.Error, ValueError):
        raise ConfigError("CHEDAITONG_DATA_KEY is not url-safe base64") from None
    if len(key) != 32:
        raise ConfigError(f"CHEDAITONG_DATA_KEY must decode to 32 bytes, not {len(key)}")
    return key
