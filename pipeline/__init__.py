"""The data-pruning study as an importable library: config, data, models, pruning, training."""
