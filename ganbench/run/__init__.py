"""Training one run (session, loop, trackers, evaluation, checkpoints, summary) and
planning a suite's runs; launchers decide where ``run.train.train_run`` executes."""
