"""``faults``: the waiting time of a fault the match stage decided (scenario delays, stalls, slow first tokens).

The scenario engine decides a fault (``Decision.fault``, or a rule's ``delay_ms``) and the produce stage
injects it into the answer's frames (:func:`fakeai.scenario.faults.inject`); this step moves the simulated
deadlines by the fault's seconds. It always runs last in the chain (``create_app`` appends it when
``Settings.simulators`` does not name it), so ``--simulator latency`` keeps scripted delays.
"""

from __future__ import annotations

from fakeai.context import Output, RequestContext, Timing
from fakeai.scenario.faults import Fault, shift
from fakeai.simulators.base import SimulatorEnv
from fakeai.simulators.registry import simulator


class FaultTiming:
    name = "faults"

    def simulate(self, ctx: RequestContext, output: Output, timing: Timing) -> Timing:
        if not isinstance(output.fault, Fault):
            return timing
        return shift(timing, output.fault, len(output.frames) if output.frames is not None else 0)


@simulator("faults")
def faults(env: SimulatorEnv) -> FaultTiming:
    return FaultTiming()
