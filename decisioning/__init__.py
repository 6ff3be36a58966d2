"""Decision service: features → rules → model → decision and offers, recorded for audit."""
