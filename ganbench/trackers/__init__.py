"""Measurement: trackers the training loop calls at fixed points; they never change training."""
