"""Python calls/s through the Ray pool against the number of nodes of a local cluster.

A ``ray.cluster_utils.Cluster`` on this machine (a CPU-less head for the driver, then 1, 2,
3 worker nodes), a :class:`~attnrl.sandbox.ray_pool.RaySandbox` with 16 calls in flight per
node, the same snippet as bench_sandbox.py; beside each, the in-process ``LocalSandbox``
measured in the same run (the ratio is the figure: every node here shares this machine's
cores, so more nodes cannot add CPU, only show the pool's overhead and spread). Needs Ray
(``make test-scale`` builds ``.venv-scale``):
``.venv-scale/bin/python benchmarks/bench_scale.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

SNIPPET = "x = np.arange(64.0).reshape(8, 8)\nprint(float((x @ x.T).sum()))\n"
NODE = {"object_store_memory": 80 << 20}
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # every node on 127.0.0.1


async def rate(run: object, calls: int, in_flight: int) -> float:
    sem = asyncio.Semaphore(in_flight)

    async def one() -> None:
        async with sem:
            result = await run(SNIPPET)  # type: ignore[operator]
            if result.error:
                raise RuntimeError(result.error)

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(calls)))
    return calls / (time.perf_counter() - start)


async def local_rate(calls: int) -> float:
    from attnrl.sandbox.local import LocalSandbox

    async with LocalSandbox(max_concurrency=16) as sb:
        await rate(sb.run, 50, 16)
        return await rate(sb.run, calls, 16)


async def pool_rate(nodes: int, calls: int) -> tuple[float, dict[str, int]]:
    import ray
    from ray.cluster_utils import Cluster

    from attnrl.sandbox.ray_pool import RaySandbox

    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False, **NODE}
    )
    try:
        for _ in range(nodes):
            cluster.add_node(num_cpus=1, **NODE)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        async with RaySandbox(max_concurrency=16) as sb:
            await rate(sb.run, 50 * nodes, 16 * nodes)
            before = dict(sb.served)
            got = await rate(sb.run, calls, 16 * nodes)
            spread = {k[:8]: v - before.get(k, 0) for k, v in sb.served.items()}
        return got, spread
    finally:
        ray.shutdown()
        cluster.shutdown()


async def main(max_nodes: int, calls: int) -> None:
    print(__doc__.split("\n\n")[0])
    print(
        f"{os.cpu_count()} CPUs; load average {' '.join(open('/proc/loadavg').read().split()[:3])}"
    )
    print(
        f"{'nodes':>5} {'pool calls/s':>13} {'local calls/s':>14} {'pool / local':>13}"
        "  calls per node"
    )
    for nodes in range(1, max_nodes + 1):
        local = await local_rate(calls)
        pool, spread = await pool_rate(nodes, calls)
        print(
            f"{nodes:>5} {pool:>13.0f} {local:>14.0f} {pool / local:>13.2f}"
            f"  {sorted(spread.values())}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=3, help="largest cluster (3)")
    parser.add_argument("--calls", type=int, default=600, help="calls per measure (600)")
    cli = parser.parse_args()
    asyncio.run(main(cli.nodes, cli.calls))
