"""The one exception type that the CLI turns into a one-line message and a non-zero exit."""


class SegError(Exception):
    """A problem with the user's input or environment, explained in one line.

    Anything raised as ``SegError`` is printed by the CLI as ``error: <message>`` with exit
    code 1; any other exception is a bug and keeps its traceback.
    """
