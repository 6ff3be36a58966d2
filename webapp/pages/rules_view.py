"""Rules for analysts: the serving versions, a diff of the YAML between two versions (the
current directory, an archived copy under ``<var>/rules-archive/NAME`` or a git revision),
and the latest backtest report found under the var dir."""

from __future__ import annotations

import difflib
import re
import subprocess
from pathlib import Path

from flask import abort, current_app, render_template, request, send_file, url_for

from webapp.pages import bp
from webapp.pages.markdown import render
from webapp.pages.session import ANALYSIS, roles
from webapp.services import services

REV = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.^~/-]{0,63}$")  # no leading '-': not a git option
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SKIP = {"models", "uploads", "test-artifacts", "rules-archive"}


def _settings():
    return current_app.config["CHEDAITONG"]


def rules_dir() -> Path:
    book = getattr(services().decisions, "rules", None)
    return Path(getattr(book, "directory", None) or _settings().rules_dir)


def archive_root() -> Path:
    return Path(_settings().var_dir) / "rules-archive"


def serving_versions() -> tuple[dict[str, str], bool]:
    """(versions, live): from the running decision service, else as the files would load."""
    book = getattr(services().decisions, "rules", None)
    if book is not None:
        return book.current_versions(), True
    from featurestore import catalog
    from ruleengine.loader import load_dir

    try:
        return {n: rs.version for n, rs in sorted(load_dir(rules_dir(), catalog()).items())}, False
    except Exception as exc:  # invalid files: show the problem, not a 500
        return {"error": str(exc).splitlines()[0][:300]}, False


def archives() -> list[str]:
    root = archive_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and NAME.match(p.name))


def _read_dir(d: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8", errors="replace")
            for p in sorted(d.glob("*.y*ml")) if p.is_file()}


def _read_git(rev: str) -> dict[str, str]:
    d = rules_dir().resolve()
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(d), *args], capture_output=True, timeout=10,
                              check=False)
        if done.returncode != 0:
            abort(404, f"git revision {rev!r} has no rules directory")
        return done.stdout.decode("utf-8", errors="replace")
    prefix = git("rev-parse", "--show-prefix").strip()
    names = [n for n in git("ls-tree", "--name-only", f"{rev}:{prefix}").splitlines()
             if n.endswith((".yaml", ".yml"))]
    return {n: git("show", f"{rev}:{prefix}{n}") for n in names}


def read_side(spec: str) -> dict[str, str]:
    """``current``, ``archive:NAME`` or ``git:REV`` → {file name: text}; 404 otherwise."""
    kind, _, name = spec.partition(":")
    if spec == "current":
        return _read_dir(rules_dir())
    if kind == "archive" and NAME.match(name) and name in archives():
        return _read_dir(archive_root() / name)
    if kind == "git" and REV.match(name) and ".." not in name:
        return _read_git(name)
    abort(404, f"unknown rules version {spec!r}")


def diff(old: dict[str, str], new: dict[str, str], a: str, b: str) -> list[tuple[str, list]]:
    """Per file, unified diff lines tagged add/del/hunk/ctx (unchanged files left out)."""
    out = []
    for name in sorted(set(old) | set(new)):
        lines = list(difflib.unified_diff(old.get(name, "").splitlines(),
                                          new.get(name, "").splitlines(),
                                          f"{a}/{name}", f"{b}/{name}", lineterm="", n=3))
        tagged = [("hunk" if ln.startswith("@@") else "add" if ln.startswith("+")
                   else "del" if ln.startswith("-") else "ctx", ln) for ln in lines[2:]]
        if tagged:
            out.append((name, tagged))
    return out


def latest_backtest() -> Path | None:
    """The newest folder under var holding a backtest (report.md, report.json, chart.svg)."""
    var = Path(_settings().var_dir)
    found = []
    for pattern in ("*/report.md", "*/*/report.md", "*/*/*/report.md"):
        for md in var.glob(pattern):
            folder = md.parent
            if SKIP & set(folder.relative_to(var).parts):
                continue
            if (folder / "chart.svg").is_file() and (folder / "report.json").is_file():
                found.append((md.stat().st_mtime, folder))
    return max(found)[1] if found else None


@bp.route("/rules")
@roles(*ANALYSIS)
def rules():
    versions, live = serving_versions()
    sides = ["current", *(f"archive:{n}" for n in archives()), "git:HEAD"]
    a = request.args.get("a", sides[1] if len(sides) > 2 else "git:HEAD")
    b = request.args.get("b", "current")
    files = diff(read_side(a), read_side(b), a, b) if request.args.get("diff", "1") else []
    folder = latest_backtest()
    report = None
    if folder is not None:
        report = render((folder / "report.md").read_text(encoding="utf-8"),
                        lambda n: url_for("pages.backtest_chart") if n == "chart.svg" else None)
    return render_template("pages/rules.html", versions=versions, live=live, sides=sides, a=a,
                           b=b, files=files, report=report,
                           backtest=folder.name if folder else None, directory=rules_dir())


@bp.route("/rules/backtest/chart.svg")
@roles(*ANALYSIS)
def backtest_chart():
    folder = latest_backtest()
    if folder is None:
        abort(404, "no backtest report under the var dir")
    return send_file(folder / "chart.svg", mimetype="image/svg+xml", max_age=0)
