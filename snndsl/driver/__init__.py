"""The driver: build and cache the generated module, run it with a live display, evaluate runs."""
