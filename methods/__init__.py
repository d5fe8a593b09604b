"""Anomaly detection methods, registered by name."""

from bench.registry import Registry

METHODS: Registry = Registry("method")
