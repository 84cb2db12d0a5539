"""`ganbench latency`: a generator's per-image latency and throughput across batch sizes,
precisions and compile modes (settings), measured row by row (measure: warm-up until
steady (warmup), calls one at a time and a block back to back (timing), their figures
(figures)), from a run's checkpoint, a suite's run or a fresh model (sources); written by
``results.latency``."""
