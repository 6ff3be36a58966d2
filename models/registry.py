"""Model registry: immutable numbered version folders, movable aliases, an alias audit log.

Layout under the root (``CHEDAITONG_MODEL_DIR``, default ``<var dir>/models``)::

    v0001/                 one version, never modified after registration (files read-only)
      model.txt            LightGBM text model — or, for the scorecard family,
      woe_model.json       the WOE scorecard: bins, WoE, coefficients (a blend of the two
      blend.json           families holds both files plus its LightGBM weight)
      features.json        ordered features: dtype, direction, categories, reason labels
      calibrator.json      Platt (a, b) or isotonic thresholds
      scorecard.json       points scale and grade bands
      params.json          LightGBM parameters, config, target/time columns, source, versions
      fingerprint.json     SHA-256 of the training frame (used columns), rows
      train_rows.npy       sorted 64-bit hashes of the fitted rows' feature values (evaluate
                           flags rows the model was trained on)
      metrics.json         cross-validation, fitted-part and test-part metrics, baseline,
                           oracle, split summary
      reference.json       training-part score and feature bins (for PSI later)
      baseline.json        WOE scorecard (bins + coefficients), when trained
      report/              test-part report: report.md, report.json, PNG charts
      manifest.json        SHA-256 of every file above; written last
    aliases.json           {"champion": "v0003", "challenger": "v0004"}; replaced atomically
    aliases.log            append-only JSON lines: at, who, alias, from, to, action, forced
    reports/               reports of later ``evaluate`` runs

A version is built in a staging folder and renamed into place, so a reader never sees half a
version; registration and alias changes hold an exclusive lock on ``.lock``.

Purposes: a model scores applications (``application``, the layout above at the root) or
loans on the books (``behaviour``: the same layout under ``behaviour/``). Each purpose has its
own versions, champion/challenger, alias log and promotion rule — a behaviour version can never
become the application champion by mistake — and every version records its purpose in
``params.json``, which ``load`` checks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import getpass
import hashlib
import json
import os
import re
import shutil
import stat
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.engines import model_files
from models.errors import CorruptVersionError, PromotionRefused, RegistryError
from models.features import FeatureSpec

if TYPE_CHECKING:
    import numpy as np

    from models.train import TrainedModel

ALIASES = ("champion", "challenger")
PURPOSES = ("application", "behaviour")
VERSION_RE = re.compile(r"^v(\d{4,})$")
REQUIRED = (
    "features.json", "calibrator.json", "scorecard.json", "params.json",
    "fingerprint.json", "metrics.json", "reference.json",
)
#: A version holds a LightGBM model, a scorecard, or both with ``blend.json`` (their weight).
MODEL_FILES = ("model.txt", "woe_model.json")
BLEND_FILE = "blend.json"
TRAIN_ROWS = "train_rows.npy"


def default_root() -> Path:
    """The configured registry root (``Settings.model_dir``)."""
    from chedaitong.config import Settings

    return Settings.from_env().model_dir


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _who(who: str | None) -> str:
    if who:
        return who
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _dump(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n",
                    encoding="utf-8")


@dataclass(frozen=True)
class ModelVersion:
    """A verified version folder (every file present and matching the manifest)."""

    version: str
    path: Path
    manifest: dict[str, Any]
    features: list[FeatureSpec]
    params: dict[str, Any]
    metrics: dict[str, Any]

    def read_json(self, name: str) -> Any:
        try:
            return json.loads((self.path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CorruptVersionError(
                f"model version {self.path}: cannot read {name}: {exc}"
            ) from None

    def model_text(self) -> str:
        return (self.path / "model.txt").read_text(encoding="utf-8")

    @property
    def family(self) -> str:
        return self.params.get("family", "lightgbm")

    def train_rows(self) -> np.ndarray | None:
        """Sorted row hashes of the fitted part (None for versions that predate them)."""
        import numpy as np

        if TRAIN_ROWS not in self.manifest.get("files", {}):
            return None
        try:
            return np.load(self.path / TRAIN_ROWS, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise CorruptVersionError(f"model version {self.path}: cannot read "
                                      f"{TRAIN_ROWS}: {exc}") from None

    @property
    def oot_auc(self) -> float | None:
        return self.metrics.get("oot", {}).get("auc")

    @property
    def training(self) -> dict[str, Any]:
        return self.params.get("training", {})


class Registry:
    """The registry at ``root`` (default: ``default_root()``)."""

    def __init__(self, root: str | Path | None = None, purpose: str = "application"):
        if purpose not in PURPOSES:
            raise RegistryError(f"purpose must be one of {PURPOSES}, not {purpose!r}")
        base = Path(root) if root is not None else default_root()
        self.base = base
        self.purpose = purpose
        self.root = base if purpose == "application" else base / purpose

    # -- versions ------------------------------------------------------------------------
    def versions(self) -> list[str]:
        """Registered version names, oldest first."""
        if not self.root.is_dir():
            return []
        found = [p.name for p in self.root.iterdir() if p.is_dir() and VERSION_RE.match(p.name)]
        return sorted(found, key=lambda v: int(VERSION_RE.match(v).group(1)))  # type: ignore[union-attr]

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def register(self, trained: TrainedModel, *, info: Mapping[str, Any] | None = None,
                 report: bool = True) -> str:
        """Write ``trained`` as the next version; returns its name (``v0001``…)."""
        from importlib.metadata import version as dist_version

        import numpy as np

        libraries = {"python": sys.version.split()[0]}
        for dist in ("lightgbm", "numpy", "pandas", "scikit-learn", "optbinning"):
            libraries[dist] = dist_version(dist)
        if "tuning" in trained.params:
            libraries["optuna"] = dist_version("optuna")
        with self._lock():
            existing = self.versions()
            number = int(existing[-1][1:]) + 1 if existing else 1
            version = f"v{number:04d}"
            staging = self.root / f".staging-{version}-{os.getpid()}"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            try:
                trained.model.version = version
                for name, text in model_files(trained.model.engine).items():
                    (staging / name).write_text(text, encoding="utf-8")
                _dump(staging / "features.json", {
                    "features": [s.to_dict() for s in trained.specs],
                    "target": (info or {}).get("target"),
                    "bad": (info or {}).get("bad"),
                    "time": (info or {}).get("time"),
                })
                with open(staging / TRAIN_ROWS, "wb") as fh:
                    np.save(fh, np.asarray(trained.train_rows, np.uint64), allow_pickle=False)
                _dump(staging / "calibrator.json", trained.calibrator.to_dict())
                _dump(staging / "scorecard.json", trained.model.scorecard.to_dict())
                _dump(staging / "params.json", {
                    **trained.params,
                    "purpose": self.purpose,
                    "training": {**(info or {}), "created_at": _now(), "created_by": _who(None)},
                    "libraries": libraries,
                })
                _dump(staging / "fingerprint.json", trained.fingerprint)
                _dump(staging / "metrics.json", {**trained.metrics, "split": trained.split})
                _dump(staging / "reference.json", trained.reference)
                if trained.baseline is not None:
                    _dump(staging / "baseline.json", trained.baseline.to_dict())
                if report:
                    self._training_report(trained, staging / "report", info or {})
                self._seal(staging, version)
                os.rename(staging, self.root / version)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        return version

    @staticmethod
    def _training_report(trained: TrainedModel, out: Path, info: Mapping[str, Any]) -> None:
        from models.evaluate import evaluate
        from models.report import write_report

        kind = trained.split.get("kind", "out-of-time")
        ev = evaluate(trained.model, trained.oot_frame, target=info.get("target") or "bad_12m",
                      baseline=trained.baseline, reference=trained.reference,
                      time=info.get("time"), label=f"{kind} test part")
        write_report(ev, out, title=f"Training report ({kind} test)",
                     extra={"split": trained.split, "cv": trained.metrics.get("cv"),
                            "tuning": trained.metrics.get("tuning")})

    @staticmethod
    def _seal(folder: Path, version: str) -> None:
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        manifest = {
            "version": version,
            "created_at": _now(),
            "files": {p.relative_to(folder).as_posix(): _sha256(p) for p in files},
        }
        _dump(folder / "manifest.json", manifest)
        for p in [*files, folder / "manifest.json"]:
            p.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)

    def resolve(self, ref: str) -> str:
        """A version name for a version or an alias; RegistryError if unknown."""
        if ref in ALIASES:
            v = self.aliases().get(ref)
            if v is None:
                raise RegistryError(f"no {ref} is set in the registry at {self.root}")
            return v
        if not VERSION_RE.match(ref):
            raise RegistryError(f"{ref!r} is neither a version (v0001) nor an alias {ALIASES}")
        return ref

    def load(self, ref: str) -> ModelVersion:
        """Verify and open a version (or alias). CorruptVersionError names the folder."""
        version = self.resolve(ref)
        path = self.root / version
        if not path.is_dir():
            raise RegistryError(f"no version {version} in the registry at {self.root}")
        mpath = path / "manifest.json"
        if not mpath.is_file():
            raise CorruptVersionError(f"model version {path} is incomplete: manifest.json missing")
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
            files = manifest["files"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CorruptVersionError(
                f"model version {path}: unreadable manifest.json ({exc})"
            ) from None
        for name in REQUIRED:
            if name not in files:
                raise CorruptVersionError(
                    f"model version {path} is incomplete: {name} not in manifest"
                )
        held = sum(name in files for name in MODEL_FILES)
        if held != (2 if BLEND_FILE in files else 1):
            raise CorruptVersionError(
                f"model version {path} is incomplete: needs one of {', '.join(MODEL_FILES)}"
            )
        for name, digest in files.items():
            f = path / name
            if not f.is_file():
                raise CorruptVersionError(f"model version {path} is incomplete: {name} is missing")
            if _sha256(f) != digest:
                raise CorruptVersionError(
                    f"model version {path} is corrupt: {name} does not match its manifest hash"
                )
        try:
            feats = json.loads((path / "features.json").read_text(encoding="utf-8"))
            specs = [FeatureSpec.from_dict(d) for d in feats["features"]]
            params = json.loads((path / "params.json").read_text(encoding="utf-8"))
            metrics = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CorruptVersionError(f"model version {path}: malformed metadata ({exc})") from None
        if params.get("purpose", "application") != self.purpose:
            raise CorruptVersionError(f"model version {path} is a {params.get('purpose')} "
                                      f"model, not a {self.purpose} model")
        return ModelVersion(version, path, manifest, specs, params, metrics)

    def summary(self) -> list[dict[str, Any]]:
        """One row per version for ``model list`` (corrupt folders flagged, not raised)."""
        aliases = self.aliases()
        rows = []
        for v in self.versions():
            tags = [a for a in ALIASES if aliases.get(a) == v]
            try:
                mv = self.load(v)
            except CorruptVersionError as exc:
                rows.append({"version": v, "aliases": tags, "error": str(exc)})
                continue
            m = mv.metrics
            rows.append({
                "version": v, "aliases": tags,
                "created_at": mv.training.get("created_at"),
                "features": len(mv.features),
                "rows": mv.metrics.get("split", {}).get("train", {}).get("rows"),
                "family": mv.family,
                "test_kind": m.get("test_kind", "out-of-time"),
                "oot_auc": mv.oot_auc,
                "baseline_auc": m.get("baseline_oot", {}).get("auc"),
                "oracle_auc": m.get("oracle_oot", {}).get("auc"),
                "source": mv.training.get("source"),
            })
        return rows

    # -- aliases -------------------------------------------------------------------------
    def generation(self) -> tuple[int, int, int] | None:
        """The aliases' generation (one ``stat``; None before any alias is set): every
        promotion replaces ``aliases.json`` atomically, so a long-lived process that compares
        this before it scores follows promotions made by any other process."""
        try:
            st = os.stat(self.root / "aliases.json")
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def aliases(self) -> dict[str, str | None]:
        path = self.root / "aliases.json"
        if not path.is_file():
            return dict.fromkeys(ALIASES)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RegistryError(f"{path} is unreadable: {exc}") from None
        return {a: data.get(a) for a in ALIASES}

    def history(self) -> list[dict[str, Any]]:
        """Alias changes, oldest first."""
        path = self.root / "aliases.log"
        if not path.is_file():
            return []
        with open(path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def _set_alias(self, alias: str, version: str | None, *, action: str, who: str | None,
                   forced: bool = False, note: str = "") -> dict[str, Any]:
        current = self.aliases()
        entry = {"at": _now(), "who": _who(who), "alias": alias, "from": current.get(alias),
                 "to": version, "action": action, "forced": forced, "note": note}
        current[alias] = version
        tmp = self.root / f".aliases.json.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(current, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.root / "aliases.json")
        with open(self.root / "aliases.log", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        return entry

    def servable_problems(
        self, mv: ModelVersion, cat: Mapping[str, Any] | None = None
    ) -> list[str]:
        """Why the feature store could not feed this model (empty list: it can)."""
        from models.features import catalog_or_default

        cat = catalog_or_default(cat)
        problems = []
        for spec in mv.features:
            fd = cat.get(spec.name)
            if fd is None:
                problems.append(f"{spec.name} is not in the feature catalog")
            elif fd.dtype != spec.dtype:
                problems.append(
                    f"{spec.name} is {spec.dtype} in the model but {fd.dtype} in the catalog"
                )
            elif spec.dtype == "category" and tuple(fd.categories) != tuple(spec.categories):
                problems.append(f"{spec.name} categories differ from the catalog's")
        return problems

    def promote(self, ref: str, alias: str = "champion", *, force: bool = False,
                who: str | None = None, note: str = "",
                cat: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Point ``alias`` at a version. Refuses (PromotionRefused) a version whose features the
        store cannot provide (``force`` does not override this) and, for ``champion``, one
        whose OOT AUC is below the current champion's unless ``force``."""
        if alias not in ALIASES:
            raise RegistryError(f"alias must be one of {ALIASES}, not {alias!r}")
        with self._lock():
            mv = self.load(ref)
            problems = self.servable_problems(mv, cat)
            if problems:
                raise PromotionRefused(
                    f"{mv.version} needs features the store cannot provide: {problems[0]}"
                    + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
                )
            current = self.aliases()
            if current.get(alias) == mv.version:
                raise RegistryError(f"{mv.version} is already {alias}")
            forced = False
            champ = current.get("champion")
            if alias == "champion" and champ is not None:
                try:
                    old_auc = self.load(champ).oot_auc or 0.0
                except CorruptVersionError as exc:
                    if not force:
                        raise PromotionRefused(
                            f"cannot compare with champion {champ} ({exc}); use --force"
                        ) from None
                    old_auc = 0.0
                new_auc = mv.oot_auc or 0.0
                if new_auc < old_auc:
                    if not force:
                        raise PromotionRefused(
                            f"{mv.version} test AUC {new_auc:.4f} is below champion {champ}'s "
                            f"{old_auc:.4f}; use --force to promote it anyway"
                        )
                    forced = True
            entry = self._set_alias(alias, mv.version, action="promote", who=who,
                                    forced=forced, note=note)
            if alias == "champion" and current.get("challenger") == mv.version:
                self._set_alias("challenger", None, action="clear", who=who,
                                note=f"{mv.version} became champion")
            return entry

    def rollback(self, alias: str = "champion", *, who: str | None = None,
                 note: str = "") -> dict[str, Any]:
        """Point ``alias`` back at the version it had before its latest promotion (repeatable:
        each rollback undoes one more promotion). Refuses if there is none or it is corrupt."""
        if alias not in ALIASES:
            raise RegistryError(f"alias must be one of {ALIASES}, not {alias!r}")
        with self._lock():
            stack: list[str | None] = []
            for e in self.history():
                if e["alias"] != alias:
                    continue
                if e["action"] == "rollback":
                    if stack:
                        stack.pop()
                else:
                    if not stack:
                        stack.append(e["from"])
                    stack.append(e["to"])
            if len(stack) < 2 or stack[-2] is None:
                raise RegistryError(f"no earlier {alias} to roll back to")
            target = stack[-2]
            self.load(target)  # refuse a corrupt target with its path
            return self._set_alias(alias, target, action="rollback", who=who, note=note)
