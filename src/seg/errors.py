"""The one exception type that the CLI turns into a one-line message and a non-zero exit."""


class SegError(Exception):
    """A problem with the user's input or environment, explained in one line.

    Anything raised as ``SegError`` is printed by the CLI as ``error: <message>`` with exit
    code 1; any other exception is a bug and keeps its traceback.
    """


class NoCalibrationData(SegError):
    """int8 needs calibration images and none were found; ``why`` says what was missing, so that
    each command can name its own option for giving them (``seg export --calib-data``,
    ``seg bench --data``)."""

    def __init__(self, why: str = "none given", option: str = "--calib-data DIR"):
        self.why = why
        super().__init__(f"int8 needs calibration images: {why}; pass {option} (a VOCdevkit root, e.g. the training data)")
