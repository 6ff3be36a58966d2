"""Settings read once from environment variables, validated at start-up.

Every problem is reported as one `ConfigError` sentence naming the variable, so the CLI and
the web app can print it and exit instead of failing later with a traceback.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENVIRONMENTS = ("development", "test", "production")
# Test defaults (fixed, so tests are reproducible); refused in production. A development
# install generates its own into the var dir instead (`install_secret`): a published key would
# let anyone forge a page-session cookie or read the demo's encrypted data.
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
    "CHEDAITONG_SEPARATION_OF_DUTIES": "1 (default): credit and disbursement approvals need "
    "two different reviewers; 0 lets one reviewer do both",
    "CHEDAITONG_REDIS_URL": "redis://… for rate-limit counters shared by all workers; "
                            "default: each process counts in memory",
    "CHEDAITONG_QUEUE_URL": "redis:// URL of the decision queue (`chedaitong worker`); "
                            "unset: the web process decides on an in-process worker",
    "CHEDAITONG_BUREAU_REFRESH_DAYS": "post-loan: refresh a loan's PBOC report once it is older "
                                      "than this many days (default 30: monthly)",
    "CHEDAITONG_BUREAU_REFRESH_PER_NIGHT": "post-loan: at most this many bureau refreshes a "
                                           "night, stalest first (default 500)",
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
    #: a referral's credit approval and the disbursement approval by different reviewers
    separation_of_duties: bool = True
    redis_url: str | None = None
    queue_url: str | None = None
    #: the nightly bureau refresh: report age that calls for a new one, and the nightly bound
    bureau_refresh_days: int = 30
    bureau_refresh_per_night: int = 500

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
        secret_key = environ.get("SECRET_KEY") or overrides.get("secret_key")
        data_key = environ.get("CHEDAITONG_DATA_KEY") or overrides.get("data_key")
        if env == "development":  # per install, generated once into the var dir (0600)
            secret_key = secret_key or install_secret(var_dir, "secret_key",
                                                      lambda: secrets.token_urlsafe(48))
            data_key = data_key or install_secret(
                var_dir, "data_key", lambda: base64.urlsafe_b64encode(os.urandom(32)).decode())
        values = {
            "env": env,
            "var_dir": var_dir,
            "database_url": environ.get("DATABASE_URL") or f"sqlite:///{var_dir / 'chedaitong.db'}",
            "secret_key": secret_key or DEV_SECRET_KEY,
            "data_key": data_key or DEV_DATA_KEY,
            "rules_dir": environ.get("CHEDAITONG_RULES_DIR", "rules"),
            "model_dir": environ.get("CHEDAITONG_MODEL_DIR", str(var_dir / "models")),
            "vendor_url": environ.get("CHEDAITONG_VENDOR_URL") or None,
            "separation_of_duties": environ.get("CHEDAITONG_SEPARATION_OF_DUTIES", "1"),
            "redis_url": environ.get("CHEDAITONG_REDIS_URL") or None,
            "queue_url": environ.get("CHEDAITONG_QUEUE_URL") or None,
            "bureau_refresh_days": environ.get("CHEDAITONG_BUREAU_REFRESH_DAYS", "30"),
            "bureau_refresh_per_night": environ.get("CHEDAITONG_BUREAU_REFRESH_PER_NIGHT",
                                                    "500"),
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
            separation_of_duties=_flag("CHEDAITONG_SEPARATION_OF_DUTIES",
                                       v.get("separation_of_duties", True)),
            redis_url=_redis_url("CHEDAITONG_REDIS_URL", v.get("redis_url")),
            queue_url=_redis_url("CHEDAITONG_QUEUE_URL", v.get("queue_url")),
            bureau_refresh_days=_count("CHEDAITONG_BUREAU_REFRESH_DAYS",
                                       v.get("bureau_refresh_days", 30), minimum=1),
            bureau_refresh_per_night=_count("CHEDAITONG_BUREAU_REFRESH_PER_NIGHT",
                                            v.get("bureau_refresh_per_night", 500), minimum=0),
        )


def _flag(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0, not {value!r}")


def _count(name: str, value: object, *, minimum: int) -> int:
    """A whole number ≥ ``minimum`` (0 for a bound means "none tonight")."""
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {number}")
    return number


def install_secret(var_dir: Path, name: str, make) -> str:
    """The install's secret ``name`` from ``<var dir>/<name>``, created on first use with
    ``make()`` — folder 0700, file 0600, and never overwritten (two processes starting at once
    both end up reading the one that was written first)."""
    path = var_dir / name
    if not path.exists():
        try:
            var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        except OSError as exc:
            raise ConfigError(f"cannot create {path} for the install's {name}: "
                              f"{exc.strerror or exc}; set it in the environment") from None
        else:
            with os.fdopen(fd, "w") as out:
                out.write(make() + "\n")
    value = path.read_text().strip()
    if not value:
        raise ConfigError(f"{path} is empty; delete it to generate a new {name}")
    return value


def _redis_url(name: str, value: object) -> str | None:
    if not value:
        return None
    if not str(value).startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"{name} must be a redis:// URL, not {value!r}")
    return str(value)


def _decode_key(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.encode())
    except (binascii.Error, ValueError):
        raise ConfigError("CHEDAITONG_DATA_KEY is not url-safe base64") from None
    if len(key) != 32:
        raise ConfigError(f"CHEDAITONG_DATA_KEY must decode to 32 bytes, not {len(key)}")
    return key
