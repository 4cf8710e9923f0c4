"""The queue_status node: a flow reads how a queue stands and decides before queueing."""

from hotline.flows.interpreter import FlowRunner
from hotline.flows.lint import Known, lint_flowset
from hotline.flows.services import DefaultServices
from hotline.flows.simulator import SimulatorPort

FLOW = """
name: t
start: status
nodes:
  status: {type: queue_status, queue: support, next: decide}
  decide:
    type: switch
    cases:
      "queue_eta < 0": nobody
      "queue_eta > 120": long
    default: short
  nobody: {type: play, prompts: agents_unavailable, next: bye}
  long: {type: play, prompts: queue_thanks, next: bye}
  short: {type: play, prompts: goodbye, next: bye}
  bye: {type: hangup}
"""


async def path_for(make_flows, events, **state):
    services = DefaultServices()
    services.queue_state.update(state)
    runner = FlowRunner(make_flows(FLOW), SimulatorPort([]), services, events)
    result = await runner.run("t", {}, "en")
    return result.path, result.variables


async def test_the_flow_branches_on_the_estimated_wait(make_flows, events):
    path, variables = await path_for(make_flows, events, queue_eta=300, queue_waiting=7)
    assert path == ["status", "decide", "long", "bye"]
    assert variables["queue_waiting"] == 7 and variables["queue_agents_free"] == 1
    assert (await path_for(make_flows, events, queue_eta=30))[0][2] == "short"
    # Nobody serves the queue: the wait is unknown, -1.
    assert (await path_for(make_flows, events, queue_eta=None))[0][2] == "nobody"


def test_lint_knows_its_queue_and_its_variables(make_flows):
    problems = lint_flowset(make_flows(FLOW), known=Known(queues={"sales"}))
    rules = {p.rule for p in problems if p.severity == "error"}
    assert rules == {"queue-unknown"}  # and no variable-unassigned for queue_eta
    assert not [
        p
        for p in lint_flowset(make_flows(FLOW), known=Known(queues={"support"}))
        if p.severity == "error"
    ]
