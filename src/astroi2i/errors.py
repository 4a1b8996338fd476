"""Exceptions that mean "the user's input is wrong" (the CLI turns them into exit code 2)."""

__all__ = ["InputError", "TrainingDiverged"]


class InputError(ValueError):
    """Bad user input: a file, a key or a value. The message names it and says what is wrong."""


class TrainingDiverged(RuntimeError):
    """Training produced non-finite losses or gradients too many times in a row."""
