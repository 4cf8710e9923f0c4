"""Callbacks that keep the customer's place in the queue: rules, settings, the service."""
