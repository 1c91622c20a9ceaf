"""The in-order checker of the cocotb testbench: received words against expected ones."""

from __future__ import annotations

from ...hw.contract import counter_names


class Scoreboard:
    """Compares each sequence's output beats and trace words with the golden model's.

    Mismatches are collected, not raised, so one run reports every bad sequence; the
    testbench fails at the end if there is any.

    Parameters
    ----------
    limit : int
        Mismatch messages kept (the count goes on).
    skip : str
        The build's skipping datapath: which counters end the trace (``"memo"``, ``"delta"``).
    """

    def __init__(self, limit: int = 20, skip: str = "memo"):
        self.limit = limit
        self.counter_names = counter_names(skip)
        self.messages: list[str] = []
        self.count = 0
        self.checked = 0

    def report(self, message: str) -> None:
        """Record a mismatch found by the caller."""
        self.count += 1
        if len(self.messages) < self.limit:
            self.messages.append(message)

    def check(self, where: str, expected_h: list | None, expected_trace: list | None, h: list[int],
              trace: list[int]) -> bool:
        """Check one sequence; returns True when it matches.

        Parameters
        ----------
        where : str
            Names the sequence in messages (``"run 0 sequence 3"``).
        expected_h, expected_trace : list or None
            From the job; ``None`` skips that check, a ``None`` word matches anything.
        h, trace : list of int
            What the hardware sent.
        """
        self.checked += 1
        before = self.count
        if expected_h is not None:
            if len(h) != len(expected_h):
                self.report(f"{where}: {len(h)} output beats, expected {len(expected_h)}")
            else:
                bad = [t for t, (got, want) in enumerate(zip(h, expected_h)) if got != want]
                if bad:
                    t = bad[0]
                    self.report(f"{where}: output step {t}: {h[t]:#x}, expected {expected_h[t]:#x} "
                                 f"({len(bad)} steps differ)")
        if expected_trace is not None:
            if len(trace) != len(expected_trace):
                self.report(f"{where}: {len(trace)} trace words, expected {len(expected_trace)}")
            else:
                counters = len(expected_trace) - len(self.counter_names)
                bad = [k for k, (got, want) in enumerate(zip(trace, expected_trace))
                       if want is not None and got != want]
                if bad:
                    k = bad[0]
                    what = f"counter {self.counter_names[k - counters]}" if k >= counters else f"reuse word {k}"
                    self.report(f"{where}: trace {what}: {trace[k]:#x}, expected {expected_trace[k]:#x} "
                                 f"({len(bad)} words differ)")
        return self.count == before
