"""vadbench: benchmark harness for unsupervised video anomaly detection."""

__version__ = "0.1.0"
