"""Chedaitong (车贷通): core services shared by every part — configuration, database, CLI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("chedaitong")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
