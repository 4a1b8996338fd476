"""Exceptions that mean "the user's input is wrong" (the CLI turns them into exit code 2)."""

__all__ = ["InputError", "TrainingDiverged", "ProcessDied"]


class InputError(ValueError):
    """Bad user input: a file, a key or a value. The message names it and says what is wrong."""


class TrainingDiverged(RuntimeError):
    """Training produced non-finite losses or gradients too many times in a row."""


class ProcessDied(RuntimeError):
    """A worker process of a sharded run ended without reporting (killed for memory, a
    signal): the run stops, with what was written so far complete."""
