"""``python -m models …`` — the same commands as ``chedaitong model …``."""

from models.cli import model

model(prog_name="python -m models")
