"""`python -m chedaitong_sim.worldgen generate --customers N --seed S --out DIR`."""

from chedaitong_sim.worldgen.cli import data

if __name__ == "__main__":
    data(prog_name="python -m chedaitong_sim.worldgen")
