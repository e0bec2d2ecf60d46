"""When a connect cut short by the learnt wait deserves a second SYN (sans-I/O; the connect sweep asks it).

A second try catches two things: a SYN lost on the way, and a host farther away than the ones that taught the
wait. On a range where neither happens (most of it dropped by a firewall, the answers all near) every dropped port
then costs two connects for nothing, and connects are what a dead range's CPU goes on. So, like nmap, which raises
its retries only once it has seen probes lost, the policy learns from the second tries themselves:

* at first every connect cut short gets its second try (``PROBATION`` of them);
* if none of those was answered, a connect waits ``SINGLE_TRY_FACTOR`` times the learnt wait in one try instead
  (as long as the two tries together, so a farther host is still caught), but for one connect in ``SAMPLE_EVERY``,
  which still makes two tries (the learnt wait, then twice it) to keep watching for losses: either way a dropped
  port is known after three learnt waits;
* as soon as one second try is answered, every connect cut short gets its second try again, for the rest of the
  scan.
"""

from __future__ import annotations

PROBATION = 256  # second tries before the policy may decide they find nothing
SAMPLE_EVERY = 16  # connects cut short per second try once they are found to be useless
SINGLE_TRY_FACTOR = 3  # the first try's wait, in learnt waits, when second tries are rare


class RetryPolicy:
    def __init__(self) -> None:
        self.retried = 0  # second tries started
        self.answered = 0  # second tries that got an answer (SYN-ACK or reset)
        self._started = 0

    @property
    def always(self) -> bool:
        """True while every connect cut short gets a second try."""
        return self.answered > 0 or self.retried < PROBATION

    def first_try_factor(self) -> int:
        """The wait of a connect starting now, in learnt waits: 1 when it is to get a second try if cut short,
        ``SINGLE_TRY_FACTOR`` when it is to be the only try."""
        self._started += 1
        if self.always or self._started % SAMPLE_EVERY == 0:
            return 1
        return SINGLE_TRY_FACTOR

    def should_retry(self, factor: int = 1) -> bool:
        """Called for each connect the learnt wait cut short after ``factor`` learnt waits: does it get a second
        try? Those started to make two tries do (also when the policy changed since); a single try does not."""
        if factor >= SINGLE_TRY_FACTOR:
            return False
        self.retried += 1
        return True

    def second_try_answered(self) -> None:
        self.answered += 1
