"""Checkpoints on request by signal: SIGUSR1 checkpoints and goes on, SIGTERM checkpoints and stops.

Slurm preempts or cancels a job with SIGTERM (SIGKILL follows after ``KillWait``, 30 s by
default) and, with ``#SBATCH --signal=USR1@60``, sends SIGUSR1 60 s before the time limit.
While :func:`icepaper.ssl.trainer.train` runs, :class:`CheckpointSignals` turns both into
requests that the loop honours at the end of the current step (a step is never cut in half,
so the checkpoint resumes exactly). A second SIGTERM does what SIGTERM did before training
(by default: end the process at once), except under ``torchrun``: there every process gets
each SIGTERM twice when the whole process group is signalled (Slurm signals every process of a
job step; the torchrun agent then forwards its own copy to each worker), so a repeat is
ignored, and the agent's SIGKILL 30 s after its SIGTERM still ends a process that hangs. The
handlers are installed only from the main thread (Python delivers signals there) and the
previous ones are restored when training ends.
"""

from __future__ import annotations

import os
import signal
import threading


def under_torchrun() -> bool:
    """True in a worker process started by ``torchrun`` (its agent sets ``TORCHELASTIC_RUN_ID``)."""
    return bool(os.environ.get("TORCHELASTIC_RUN_ID"))


class TrainingInterrupted(SystemExit):
    """Training stopped on SIGTERM after writing a resumable checkpoint (the message says where).

    A ``SystemExit``: uncaught, the process prints the message and exits with status 1.
    """


class CheckpointSignals:
    """Context manager: ``checkpoint`` is set by SIGUSR1 or SIGTERM, ``stop`` (the signal's
    name) by SIGTERM.

    ``repeat_ends`` (default: not :func:`under_torchrun`): a second SIGTERM ends the process
    at once; otherwise it is ignored.
    """

    NAMES = ("SIGTERM", "SIGUSR1")

    def __init__(self, repeat_ends: bool | None = None):
        self.checkpoint = False
        self.stop: str | None = None
        self.repeat_ends = (not under_torchrun()) if repeat_ends is None else bool(repeat_ends)
        self._old: dict[int, object] = {}

    def __enter__(self) -> CheckpointSignals:
        if threading.current_thread() is threading.main_thread():
            for name in self.NAMES:
                sig = getattr(signal, name, None)  # Windows has no SIGUSR1
                if sig is not None:
                    self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> bool:
        for sig, old in self._old.items():
            signal.signal(sig, signal.SIG_DFL if old is None else old)
        self._old = {}
        return False

    def _handle(self, signum: int, frame) -> None:
        if signum == signal.SIGTERM:
            if self.stop is not None and not self.repeat_ends:  # torchrun's copy of the same request
                return
            if self.stop is not None:  # asked twice: the handler from before training, now
                old = self._old.pop(signum)
                signal.signal(signum, signal.SIG_DFL if old is None else old)
                signal.raise_signal(signum)
                return
            self.stop = signal.Signals(signum).name
        self.checkpoint = True

    def take_checkpoint(self) -> bool:
        """Whether a checkpoint was asked for since the last call."""
        asked, self.checkpoint = self.checkpoint, False
        return asked
