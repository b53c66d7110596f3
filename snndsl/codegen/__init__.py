"""Code generation: IR -> one standalone training module (generate.py)."""
