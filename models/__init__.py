"""Credit models: LightGBM training, evaluation, registry and reason codes."""
