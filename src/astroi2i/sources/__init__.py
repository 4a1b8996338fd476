"""Simulators that make training data, and downloaders. No torch here."""
