"""Prices: what a job's machine time costs, and the one rule that turns time into money.

A job file may say what its machines cost per hour; the default is no prices, and then
no cost is shown anywhere (the report and `songfarm estimate` show time only):

    prices:
      currency: USD            # a label for the figures; default USD
      per_hour:                # per unit-hour of each Ray resource the stage actors hold
        CPU: 0.048             #   one CPU core for an hour
        GPU: 2.10              #   one GPU for an hour
      node_types:              # or per node-hour, for nodes that offer a custom resource of
        gpu_worker: 3.20       #   that name (the cluster files give each node type one)

Cost is for the resources *held*, because that is what a cluster bills: a pool of actors
holds its asks for the whole render, busy or not. `cost()` prices a mapping of
resource-hours (for `per_hour`) and node-hours (for `node_types`); what was held comes from
the run record (pipelines/delivery/runs.py) or the estimate (jobs/estimate.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_CURRENCY = "USD"


@dataclass
class Prices:
    currency: str = DEFAULT_CURRENCY
    per_hour: dict[str, float] = field(default_factory=dict)  # Ray resource → price per unit-hour
    node_types: dict[str, float] = field(default_factory=dict)  # node type → price per node-hour

    @property
    def given(self) -> bool:
        """Whether any price was given (otherwise no cost is shown)."""
        return bool(self.per_hour or self.node_types)

    def cost(self, resource_hours: dict[str, float], node_hours: dict[str, float] | None = None) -> float | None:
        """Money for `resource_hours` (resource → unit-hours held) and `node_hours` (node type →
        node-hours); None when no price was given. Resources without a price cost nothing.
        Node types priced per node replace their per-resource prices: a node priced whole is
        not also charged for its CPUs (the caller passes those resource-hours under the type)."""
        if not self.given:
            return None
        money = sum(hours * self.per_hour.get(name, 0.0) for name, hours in resource_hours.items())
        money += sum(hours * self.node_types.get(name, 0.0) for name, hours in (node_hours or {}).items())
        return money

    def format(self, money: float | None) -> str:
        """'USD 1.23' (or '' when there are no prices)."""
        if money is None:
            return ""
        return f"{self.currency} {money:,.2f}" if money >= 0.1 else f"{self.currency} {money:.4f}"

    def to_dict(self) -> dict[str, Any]:
        """As a job file writes it: an empty table is left out (the loader refuses `{}`)."""
        out: dict[str, Any] = {"currency": self.currency}
        if self.per_hour:
            out["per_hour"] = dict(self.per_hour)
        if self.node_types:
            out["node_types"] = dict(self.node_types)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "Prices":
        d = d or {}
        return cls(currency=str(d.get("currency") or DEFAULT_CURRENCY),
                   per_hour={str(k): float(v) for k, v in (d.get("per_hour") or {}).items()},
                   node_types={str(k): float(v) for k, v in (d.get("node_types") or {}).items()})


def held_resource_hours(pools: dict[str, dict[str, Any]], wall_s: float) -> dict[str, float]:
    """Resource → unit-hours held by stage pools over `wall_s` seconds. `pools` is
    stage → {actors, num_cpus, num_gpus, resources: {name: amount}} (the actors that ran)."""
    hours: dict[str, float] = {}
    for pool in pools.values():
        actors = float(pool.get("actors") or 0)
        asks = {"CPU": float(pool.get("num_cpus") or 0), "GPU": float(pool.get("num_gpus") or 0),
                **{str(k): float(v) for k, v in (pool.get("resources") or {}).items()}}
        for name, amount in asks.items():
            if amount:
                hours[name] = hours.get(name, 0.0) + actors * amount * wall_s / 3600.0
    return hours


def priced_hours(prices: Prices, pools: dict[str, dict[str, Any]], nodes: list[dict[str, float]],
                 wall_s: float) -> tuple[dict[str, float], dict[str, float]]:
    """(resource-hours, node-hours) held over wall_s, as Prices.cost takes them. A node that
    offers a resource named after a priced node type is billed whole per node-hour, so the
    pools that ask for that resource (they live on such nodes) are not billed again."""
    node_hours: dict[str, float] = {}
    for node in nodes:
        for name in set(prices.node_types) & set(node):
            node_hours[name] = node_hours.get(name, 0.0) + wall_s / 3600.0
    loose = {s: p for s, p in pools.items() if not set(prices.node_types) & set(p.get("resources") or {})}
    return held_resource_hours(loose, wall_s), node_hours
