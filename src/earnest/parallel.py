"""Executors: where independent pieces of work (folds, trials, per-symbol jobs) run.

An :class:`Executor` has one method, ``map(fn, items)``, returning ``[fn(item) for item in items]``
in the order of ``items``. Work passed to an executor must be a pure function of its item (no
shared mutable state, no reliance on globals set elsewhere), so any backend gives the same result.

- :class:`InProcessExecutor`: the default, a plain loop in this process.
- :class:`DaskExecutor`: a ``dask.distributed.Client`` connected to a scheduler ``address``
  (e.g. ``tcp://host:8786``). Reading the address from the settings (``EARNEST_DASK_SCHEDULER``) is
  the edge's job (CLI / workflows); this module takes it as a parameter.
- :func:`local_cluster`: a ``LocalCluster`` on this machine, for tests and benchmarks.

``fn`` and the items are pickled to the workers, so ``fn`` must be importable (a module-level
function or a ``functools.partial`` of one). Dask is in the ``dist`` extra, imported when used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar, runtime_checkable

from earnest.core.errors import ConfigError

__all__ = ["DaskExecutor", "Executor", "InProcessExecutor", "local_cluster"]

T = TypeVar("T")
R = TypeVar("R")

_WHERE = "earnest.parallel"


@runtime_checkable
class Executor(Protocol):
    """Runs ``fn`` on each item and returns the results in the order of ``items``."""

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``[fn(item) for item in items]``, possibly computed elsewhere."""
        ...


class InProcessExecutor:
    """The default executor: a loop in the calling process."""

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``[fn(item) for item in items]``."""
        return [fn(item) for item in items]


class DaskExecutor:
    """Runs work on a Dask distributed cluster.

    Give either ``address`` (a scheduler such as ``tcp://host:8786``, connected on construction) or
    an existing ``client``. Call :meth:`close` (or use it as a context manager) to disconnect a
    client this executor opened; a client passed in is left open.
    """

    def __init__(self, address: str | None = None, *, client: Any = None) -> None:
        if (address is None) == (client is None):
            raise ConfigError(
                "give exactly one of a scheduler address or a dask client",
                remedy="pass address='tcp://host:8786' or client=Client(...)",
                field="address",
                file=_WHERE,
            )
        if client is None:
            from distributed import Client

            client = Client(address)  # type: ignore[no-untyped-call]
            self._owns_client = True
        else:
            self._owns_client = False
        self.client = client

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """Run ``fn(item)`` for each item (each a separate task) and gather results in order.

        The items are scattered to the workers first, so large items (e.g. a fold's training
        slice) travel directly to a worker instead of through the scheduler's task graph.
        """
        items = list(items)
        if not items:
            return []
        remote = self.client.scatter(items, hash=False)
        futures = self.client.map(fn, remote, pure=False)
        results: list[R] = self.client.gather(futures)
        return results

    def close(self) -> None:
        """Disconnect the client if this executor opened it."""
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def local_cluster(
    n_workers: int = 2, *, threads_per_worker: int = 1, processes: bool = True
) -> Iterator[DaskExecutor]:
    """A :class:`DaskExecutor` on a fresh ``LocalCluster`` of ``n_workers`` workers, torn down on exit.

    For tests and benchmarks; the dashboard is disabled so no port is opened for it.
    """
    from distributed import Client, LocalCluster

    cluster = LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
        processes=processes,
        dashboard_address=None,
    )
    try:
        client = Client(cluster)  # type: ignore[no-untyped-call]
        try:
            yield DaskExecutor(client=client)
        finally:
            client.close()  # type: ignore[no-untyped-call]
    finally:
        cluster.close()
