"""The ray launcher on a two-node cluster on this machine (``ray.cluster_utils``): a node
lost mid-suite, its run finishes on the other node from its checkpoint."""

from __future__ import annotations

import threading

import pytest

from ganbench.config import load_suite
from ganbench.results import RunStore, read_events
from ganbench.run.plan import plan_suite
from tests.launchers.remote_helpers import busy_suite, inline_reference, same_parameters, watch
from tests.launchers.test_ray import launcher

ray = pytest.importorskip("ray")
cluster_utils = pytest.importorskip("ray.cluster_utils")


@pytest.mark.slow
def test_a_lost_node_s_run_resumes_on_the_other_node(write_suite, tmp_path) -> None:
    cluster = cluster_utils.Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0,
            "_system_config": {"health_check_period_ms": 500, "health_check_failure_threshold": 3},
        },
    )
    doomed = cluster.add_node(num_cpus=1)
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, log_to_driver=False, logging_level="warning")
    try:
        # Long enough that the node dies mid-run, not after (a task retried after its run
        # ended returns the finished run as it is: no resume).
        path = write_suite(busy_suite(iterations=1000, seeds=2, checkpoint_every=50))
        loaded = load_suite(path)
        result: list = []
        driver = threading.Thread(
            target=lambda: result.extend(launcher().run_suite(loaded, plan_suite(loaded)))
        )
        driver.start()
        for seed in (0, 1):  # both running, one per node
            watch(RunStore(loaded.output_dir / f"tiny-seed{seed}"), 50)
        cluster.remove_node(doomed, allow_graceful=False)
        driver.join(timeout=300)
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert [s.status for s in result] == ["finished", "finished"], [s.reason for s in result]
    resumed = [
        s.run_id
        for s in result
        if any(
            e["event"] == "resume"
            for e in read_events(loaded.output_dir / s.run_id / "events.jsonl")
        )
    ]
    assert len(resumed) == 1  # the lost node's run, on the other node
    inline_reference(path, tmp_path / "inline")
    for s in result:
        ran, ref = RunStore(loaded.output_dir / s.run_id), RunStore(tmp_path / "inline" / s.run_id)
        assert same_parameters(ran, ref), s.run_id
