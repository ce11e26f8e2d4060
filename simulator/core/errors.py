"""Errors a user can cause. The CLI catches :class:`UserError` at the edge and prints its
message as one line with exit code 2; anything else is a bug and keeps its traceback."""


class UserError(ValueError):
    """Bad input from the user: a scene, a flag, a recording, a perturbation."""
