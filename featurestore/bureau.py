"""Bureau report parsing (placeholder until the world format lands)."""
def pboc_facts(raw, digest):
    raise NotImplementedError


def thirdparty_facts(raw, digest):
    raise NotImplementedError
