"""Staffing: Erlang C, a forecast from the event log's history, and a simulated check."""
