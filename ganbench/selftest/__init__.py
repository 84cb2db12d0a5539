"""ganbench checking its own measurements: `ganbench selftest overhead`."""
