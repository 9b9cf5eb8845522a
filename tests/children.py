"""Objects that the fault tests run in child processes (spawn imports them by name)."""

import time


class Napper:
    """A service object whose one method takes as long as it is told to."""

    def nap(self, seconds: float) -> float:
        time.sleep(seconds)
        return seconds
