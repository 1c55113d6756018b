"""Which stages share one actor pool, and how big it is (pipelines/farm/round.fused_pool)."""

import dataclasses

from songfarm.cluster.profiles import gpu, laptop
from songfarm.pipelines.farm.round import fused_pool
from songfarm.models.settings import StageResources


def test_the_laptop_profile_fuses_into_one_actor_per_core():
    for cores in (2, 16):
        pool = fused_pool(laptop(cores))
        separate = sum(r.min_actors * r.num_cpus for r in laptop(cores).values())
        assert pool.min_actors == pool.max_actors == cores and pool.num_gpus == 0
        assert pool.min_actors * pool.num_cpus <= separate  # never holds more than the separate pools


def test_stages_on_different_kinds_of_node_keep_their_own_pools():
    assert fused_pool(gpu(2)) is None  # a GPU generator, a fractional-GPU verifier
    pools = laptop(4)
    pools["planner"] = dataclasses.replace(pools["planner"], resources={"cpu_pool": 0.1})
    assert fused_pool(pools) is None


def test_the_fused_pool_holds_the_cpus_of_the_separate_ones():
    pools = {"planner": StageResources(min_actors=1, max_actors=2, num_cpus=1.0),
             "generator": StageResources(min_actors=2, max_actors=6, num_cpus=2.0, batch_size=3),
             "verifier": StageResources(min_actors=1, max_actors=2, num_cpus=1.0)}
    pool = fused_pool(pools)
    # min: 1 + 4 + 1 = 6 CPUs in actors of 2 CPUs (the heaviest ask); max: 2 + 12 + 2 = 16
    assert (pool.min_actors, pool.max_actors, pool.num_cpus, pool.batch_size) == (3, 8, 2.0, 3)
