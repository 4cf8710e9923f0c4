"""IVR flows in YAML: model, loader, interpreter, simulator, linter, schema and diagrams.

model (the file format) -> loader (FlowSet) -> interpreter (FlowRunner over a port and
services). port.py is the contract with channel runtimes; simulator.py is the port for
tests and the CLI; lint.py, schema.py, graph.py and scenarios.py are the tooling.
"""
