"""The one exception type for errors a user can cause."""


class GridhouseError(Exception):
    """An error the user can fix: the message names the input and what to do.

    The command line prints it as one line (no traceback) and exits with code 2.
    """
