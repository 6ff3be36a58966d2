"""`python -m worldgen generate --customers N --seed S --out DIR`."""

from worldgen.cli import data

if __name__ == "__main__":
    data(prog_name="python -m worldgen")
