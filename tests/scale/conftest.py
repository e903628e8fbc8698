"""A local multi-node Ray cluster (``ray.cluster_utils.Cluster``): every node a set of
processes on this machine, on loopback, with a fast health check so a killed node is seen
as dead within seconds."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

# Ray's single-machine mode: every node, the GCS and the driver on 127.0.0.1 (by default Ray
# rewrites a loopback address to the machine's own, reachable from the network). Read when
# ray is imported, and inherited by every process a test starts.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

SYSTEM_CONFIG = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 500,
    "health_check_failure_threshold": 4,
}
NODE = {"object_store_memory": 80 << 20, "include_dashboard": False}


@pytest.fixture
def cluster() -> Iterator[Callable[[int], tuple[Cluster, list[Any]]]]:
    """``cluster(n)``: a head without CPUs (the driver only: no pool there) and ``n`` worker
    nodes with one CPU each, the driver connected; torn down after the test."""
    made: list[Cluster] = []

    def factory(workers: int) -> tuple[Cluster, list[Any]]:
        c = Cluster(
            initialize_head=True,
            head_node_args={"num_cpus": 0, "_system_config": SYSTEM_CONFIG, **NODE},
        )
        made.append(c)
        nodes = [c.add_node(num_cpus=1, **NODE) for _ in range(workers)]
        c.wait_for_nodes()
        assert c.address.startswith("127.0.0.1:"), c.address
        ray.init(address=c.address, log_to_driver=False)
        assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
        return c, nodes

    yield factory
    ray.shutdown()
    for c in made:
        c.shutdown()
