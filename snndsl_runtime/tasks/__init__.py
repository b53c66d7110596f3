"""Tasks a model trains on: Brax environments (brax.py) and classification datasets (dataset.py)."""
