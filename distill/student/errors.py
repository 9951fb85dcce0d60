"""The student's errors, importable without torch (the command line catches them)."""


class CheckpointError(RuntimeError):
    """A file that is not a readable distill checkpoint; the message names it."""
