"""Where state that must be shared lives (``--state``).

* ``None`` (the default): in this process (``fakeai.store``, ``fakeai.scenario.state``, ``fakeai.journal``...).
* ``"none"``: the same, said explicitly, so ``--workers N`` may run independent workers (pure load tests).
* ``redis://host:port/db`` (or ``rediss://``, ``unix://``, ``valkey://``): one Valkey/Redis for every worker and
  replica (:mod:`fakeai.state.shared`): stored resources, scenario states and counters, rate-limit buckets, the
  journal, and admin changes (broadcast). Simulator state that belongs to one replica (KV cache, engine queue)
  stays in each replica, as on a real fleet.
"""

from __future__ import annotations

SHARED_SCHEMES = ("redis://", "rediss://", "unix://", "valkey://", "valkeys://")


def is_shared(state: str | None) -> bool:
    return isinstance(state, str) and state.startswith(SHARED_SCHEMES)


def redis_url(state: str) -> str:
    """The URL the ``redis`` client takes (``valkey://`` is Valkey's name for the same protocol)."""
    if state.startswith("valkeys://"):
        return "rediss://" + state[len("valkeys://") :]
    if state.startswith("valkey://"):
        return "redis://" + state[len("valkey://") :]
    return state
