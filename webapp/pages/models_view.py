"""The model registry for analysts: versions with champion/challenger, and each version's
training report with its charts. Charts are served only by name from the version's own
``report/`` folder, and only names the report lists — no path reaches the filesystem."""

from __future__ import annotations

import json
import re
from pathlib import Path

from flask import abort, current_app, render_template, send_from_directory, url_for

from webapp.pages import bp
from webapp.pages.markdown import render
from webapp.pages.session import ANALYSIS, roles

CHART = re.compile(r"^[a-z0-9_]{1,64}\.png$")
CHART_ORDER = ("roc.png", "calibration.png", "score_distribution.png")


def registry():
    from models.registry import Registry

    return Registry(current_app.config["CHEDAITONG"].model_dir)


def _version_folder(version: str) -> Path:
    """The report folder of a registered version; 404 for anything else."""
    reg = registry()
    if version not in reg.versions():  # a closed list: no '..', no other folders
        abort(404, f"no model version {version!r}")
    return reg.root / version / "report"


def _charts(folder: Path) -> list[str]:
    """Chart file names the report lists (ROC, calibration, score distribution first)."""
    try:
        listed = json.loads((folder / "report.json").read_text(encoding="utf-8"))["charts"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    names = [n for n in listed if isinstance(n, str) and CHART.match(n)
             and (folder / n).is_file()]
    return sorted(names, key=lambda n: (CHART_ORDER.index(n) if n in CHART_ORDER else 99, n))


@bp.route("/models")
@roles(*ANALYSIS)
def models():
    from models.errors import RegistryError

    reg = registry()
    try:
        rows, aliases, history = reg.summary(), reg.aliases(), reg.history()[-10:]
    except RegistryError as exc:
        rows, aliases, history = [], {}, []
        error = str(exc)
    else:
        error = None
    for row in rows:
        row["has_report"] = (reg.root / row["version"] / "report" / "report.md").is_file()
    return render_template("pages/models.html", rows=rows, aliases=aliases,
                           history=list(reversed(history)), error=error, root=reg.root)


@bp.route("/models/<version>")
@roles(*ANALYSIS)
def model_report(version: str):
    folder = _version_folder(version)
    charts = _charts(folder)
    md_path = folder / "report.md"
    report = None
    if md_path.is_file():
        # the charts are shown together above the text, so inline images are dropped
        report = render(md_path.read_text(encoding="utf-8"), lambda _name: None)
    aliases = [a for a, v in registry().aliases().items() if v == version]
    urls = [(n, url_for("pages.model_chart", version=version, name=n)) for n in charts]
    return render_template("pages/model_report.html", version=version, aliases=aliases,
                           charts=urls, report=report)


@bp.route("/models/<version>/charts/<name>")
@roles(*ANALYSIS)
def model_chart(version: str, name: str):
    folder = _version_folder(version)
    if name not in _charts(folder):
        abort(404, f"no chart {name!r} in {version}")
    return send_from_directory(folder, name, mimetype="image/png", max_age=300)
