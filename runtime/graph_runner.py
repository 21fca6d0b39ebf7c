"""Runs the model's graph for each message without dask's scheduler.

Rasa's server runs the trained graph twice or more per message (once to understand it,
once per predicted action) with ``DaskGraphRunner``: it works out the smallest graph for
the targets, builds a dask task graph, and lets dask's synchronous scheduler order and
run it (``dask.get``). The components run one after another in the server's thread
either way; the ordering and scheduling around them was about 16% of the Rasa server's
CPU under load in the profile (docs/benchmarks.md).

``SequentialGraphRunner`` is the same runner with ``run`` done directly: the order of the
nodes a set of targets needs is worked out once, then each node is called with its
inputs, exactly the calls dask made (``GraphNode(*inputs)`` with the ``(name, value)``
pairs of the nodes it needs). Training keeps Rasa's runner; only the server's prediction
graph uses this one (``install()``, at server start).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text, Tuple

from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner

# What this relies on in Rasa (runtime/internals.py checks it before the server starts): the
# processor loads its model with the runner named by its module global ``DaskGraphRunner``,
# and the runner's fields and ``run`` are those reproduced here.
RELIES_ON = {
    "rasa.core.processor:MessageProcessor._load_model": "17f24faf96817bdf",
    "rasa.engine.runner.dask:DaskGraphRunner": "78a7d146c5c06d4c",
}


class SequentialGraphRunner(DaskGraphRunner):
    """``DaskGraphRunner`` with the nodes called in a fixed order instead of through dask."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._orders: Dict[Tuple[Text, ...], List[Text]] = {}

    def _order(self, targets: Tuple[Text, ...]) -> List[Text]:
        """The nodes ``targets`` need, each after the nodes it needs (computed once per targets)."""
        order = self._orders.get(targets)
        if order is None:
            nodes = self._graph_schema.minimal_graph_schema(list(targets)).nodes
            order, done = [], set()

            def visit(name: Text) -> None:
                if name in done or name not in nodes:  # a run input, not a node
                    return
                done.add(name)
                for needed in nodes[name].needs.values():
                    visit(needed)
                order.append(name)

            for target in targets:
                visit(target)
            self._orders[targets] = order
        return order

    def run(self, inputs: Optional[Dict[Text, Any]] = None, targets: Optional[List[Text]] = None) -> Dict[Text, Any]:
        """Runs the graph (see ``GraphRunner.run``): the same results as Rasa's runner."""
        run_targets = tuple(targets if targets else self._graph_schema.target_names)
        order = self._order(run_targets)
        values: Dict[Text, Any] = {}
        for name, value in (inputs or {}).items():
            if isinstance(value, str) and value in order:
                raise GraphRunError(
                    f"Input value '{value}' clashes with a node name. Make sure that none of the input "
                    f"names passed to the `run` method are the same as node names in the graph schema."
                )
            values[name] = (name, value)
        schema_nodes = self._graph_schema.nodes
        try:
            for name in order:
                values[name] = self._instantiated_nodes[name](*(values[n] for n in schema_nodes[name].needs.values()))
        except RuntimeError as e:
            raise GraphRunError("Error running runner.") from e
        return dict(values[target] for target in run_targets)


def install() -> None:
    """Makes the Rasa server load its model with ``SequentialGraphRunner`` (``runtime.serve``).

    Raises:
        RuntimeError: when the processor no longer names Rasa's runner where it is replaced.
    """
    import rasa.core.processor

    current = getattr(rasa.core.processor, "DaskGraphRunner", None)
    if current is SequentialGraphRunner:
        return
    if current is not DaskGraphRunner:
        raise RuntimeError("rasa.core.processor no longer loads models with DaskGraphRunner")
    rasa.core.processor.DaskGraphRunner = SequentialGraphRunner  # type: ignore[misc]


def installed() -> bool:
    """Whether the Rasa server will load its model with ``SequentialGraphRunner``."""
    import rasa.core.processor

    return getattr(rasa.core.processor, "DaskGraphRunner", None) is SequentialGraphRunner
