"""``python -m ruleengine …`` runs the ``rules`` command group."""

from ruleengine.cli import rules

if __name__ == "__main__":
    rules(prog_name="python -m ruleengine")
