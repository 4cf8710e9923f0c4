"""Hotline core: flows, routing, store and reports. It imports no adapter."""
