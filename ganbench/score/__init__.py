"""``ganbench score``: the quality of images made elsewhere, or of a generator outside a
run, scored by the same metrics and code as training-time evaluation."""
