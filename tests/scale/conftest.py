"""A local multi-node Ray cluster (``ray.cluster_utils.Cluster``): every node a set of
processes on this machine, on loopback, with a fast health check so a killed node is seen
as dead within seconds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

SYSTEM_CONFIG = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 500,
    "health_check_failure_threshold": 4,
}
NODE = {"object_store_memory": 80 << 20, "include_dashboard": False, "node_ip_address": "127.0.0.1"}
"""Every node on loopback (Ray binds the machine's own address otherwise)."""


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
        ray.init(address=c.address, log_to_driver=False, _node_ip_address="127.0.0.1")
        assert c.address.startswith("127.0.0.1:"), c.address
        return c, nodes

    yield factory
    ray.shutdown()
    for c in made:
        c.shutdown()
