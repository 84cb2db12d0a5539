"""Measurement: trackers the training loop runs inside (``base``: ``Tracker``,
``TrackerStack``) and what they measure with: clocks, phase timers, memory, NVML, the
profiler, FLOP counts, the environment and result dataclasses with units in their field
names. They never change what is trained and know nothing of GANs."""
