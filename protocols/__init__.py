"""Evaluation protocols: pure functions over frame scores and labels."""
