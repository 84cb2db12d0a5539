"""`ganbench latency`: a generator's per-image latency and throughput across batch sizes,
precisions and compile modes (settings), measured call by call (measure), from a run's
checkpoint, a suite's run or a fresh model (sources); written by ``results.latency``."""
