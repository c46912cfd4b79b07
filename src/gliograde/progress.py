"""One progress line per run, and what the log shows around it.

:func:`task_progress` is the progress display of every long loop (the patients of ``ingest``, the units of ``cv``,
the tasks of ``predict`` and ``validate`` on an executor, the epochs of ``train``). It opens one display per
process: a loop nested inside an open one (the epochs of a CV unit) shows none, so a run has a single line: units
done / total, the unit being worked on and the ETA. On a terminal it is a tqdm bar, with
:func:`tqdm.contrib.logging.logging_redirect_tqdm` so log lines print above it instead of breaking it; when the
output is not a terminal (a pipe, a log file, CI) it is a plain line at most every :data:`PLAIN_INTERVAL_S` seconds
and every :data:`PLAIN_STEP` of the items (``cv honest: 3 of 20 units, 1m02s, ETA 4m10s, now full fold 3``), since
bars there are carriage-return garbage.

:func:`configure_logging` is the CLI's logging set-up (``-q``, default, ``-v``); :func:`detail` marks a stretch
whose INFO lines are detail (one CV unit: its augmentation, training and epoch lines), shown only with ``-v``:
the run's progress line stands for them.

>>> import io
>>> out = io.StringIO()  # not a terminal: plain lines
>>> with task_progress(2, "demo", unit="unit", stream=out, interval=0) as bar:
...     bar.current("first"); bar.update()
...     bar.current("second"); bar.update()
>>> print(out.getvalue().replace("0s", "Xs"), end="")
demo: 1 of 2 units, Xs, ETA Xs, now second
demo: 2 of 2 units done in Xs
"""
from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

__all__ = ["PLAIN_INTERVAL_S", "Bar", "configure_logging", "detail", "duration", "task_progress"]

#: Seconds between two plain progress lines when the output is not a terminal.
PLAIN_INTERVAL_S = 60.0
#: ... and the least share of the items done between two of them, so a long run logs at most ~10 lines.
PLAIN_STEP = 0.1

_open_displays = 0  # progress displays open in this process: a nested loop shows none
_configured = False  # configure_logging ran (the CLI): detail() may hide and label lines
_hide_detail = False  # the CLI without -v


class Bar:
    """What a loop tells its progress display: which item it works on, and that one more is done.

    The base class shows nothing (a nested loop, ``progress=False``, ``-q``).
    """

    def current(self, label: str) -> None:
        """The item now being worked on (shown beside the count)."""

    def update(self, n: int = 1) -> None:
        """``n`` more items done."""

    def close(self) -> None:
        """The loop ended (normally or not)."""


class _TqdmBar(Bar):
    def __init__(self, bar: Any) -> None:
        self.bar = bar

    def current(self, label: str) -> None:
        self.bar.set_postfix_str(label, refresh=False)

    def update(self, n: int = 1) -> None:
        self.bar.update(n)

    def close(self) -> None:
        self.bar.close()


class _PlainBar(Bar):
    """Periodic full lines for output that is not a terminal (hand-written: tqdm has no line mode)."""

    def __init__(self, total: int, desc: str, unit: str, stream: TextIO, interval: float,
                 clock: Callable[[], float]) -> None:
        self.total, self.desc, self.unit, self.stream = total, desc, unit, stream
        self.interval, self.clock = interval, clock
        self.start = self.last = clock()
        self.done, self.label, self.printed, self.due, self.done_last = 0, "", False, False, 0

    def current(self, label: str) -> None:
        self.label = label
        if self.due:  # a line was due when the last item ended: print it now that it can name the next one
            self._progress_line()

    def update(self, n: int = 1) -> None:
        self.done += n
        if (self.done < self.total and self.clock() - self.last >= self.interval
                and self.done - self.done_last >= PLAIN_STEP * self.total):
            self.due = True
            if not self.label:  # a loop that names no items (epochs): nothing to wait for
                self._progress_line()

    def _progress_line(self) -> None:
        now = self.clock()
        elapsed = now - self.start
        eta = elapsed / self.done * (self.total - self.done)
        now_on = f", now {self.label}" if self.label else ""
        self._line(f"{self.done} of {self.total} {self.unit}s, {duration(elapsed)}, ETA {duration(eta)}{now_on}")
        self.last, self.due, self.done_last = now, False, self.done

    def close(self) -> None:
        # the closing line only where it adds something: a loop that printed lines before, or ran its course for
        # at least one interval (a run over in seconds needs no progress, and a command's error then stays its
        # one line); an early-stopped training's "10 of 40 epochs" would read as unfinished
        elapsed = self.clock() - self.start
        took = duration(elapsed)
        if self.done >= self.total and (self.printed or elapsed >= self.interval):
            self._line(f"{self.done} of {self.total} {self.unit}s done in {took}")
        elif self.printed:
            self._line(f"stopped after {self.done} of {self.total} {self.unit}s, {took}")

    def _line(self, text: str) -> None:
        print(f"{self.desc}: {text}", file=self.stream, flush=True)
        self.printed = True


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``.

    >>> duration(4.2), duration(185), duration(3725)
    ('4s', '3m05s', '1h02m')
    """
    s = round(max(seconds, 0.0))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except ValueError:  # a closed stream
        return False


@contextmanager
def task_progress(total: int, desc: str, *, unit: str = "task", enabled: bool = True, leave: bool = True,
                  stream: TextIO | None = None, interval: float | None = None,
                  clock: Callable[[], float] = time.monotonic) -> Iterator[Bar]:
    """The progress display of a loop over ``total`` items (see the module docstring).

    Args:
        desc: the run's label (``cv honest``); unit: what an item is (``unit``, ``epoch``, ``case``).
        enabled: False shows nothing (``progress=False``, ``-q``); so does a loop inside an open display.
        leave: keep the terminal bar once done (False for a step of a bigger command, e.g. training's epochs).
        stream: where it goes (default: stderr, beside the log); a terminal gets a bar, anything else lines.
        interval: seconds between plain lines (default :data:`PLAIN_INTERVAL_S`). clock: seconds (tests pass a
            fake one).
    """
    global _open_displays
    out = sys.stderr if stream is None else stream
    if not enabled or total <= 0 or _open_displays:
        yield Bar()
        return
    _open_displays += 1
    try:
        if _is_terminal(out):
            from tqdm import tqdm  # light, but only a terminal needs it
            from tqdm.contrib.logging import logging_redirect_tqdm

            with logging_redirect_tqdm(), tqdm(total=total, desc=desc, unit=unit, file=out, leave=leave,
                                               dynamic_ncols=True) as t:
                bar: Bar = _TqdmBar(t)
                yield bar
        else:
            bar = _PlainBar(total, desc, unit, out, PLAIN_INTERVAL_S if interval is None else interval, clock)
            try:
                yield bar
            finally:
                bar.close()
    finally:
        _open_displays -= 1


def configure_logging(*, quiet: bool = False, verbose: bool = False, stream: TextIO | None = None) -> None:
    """The CLI's logging: WARNING with ``-q``, INFO by default, gliograde's DEBUG too with ``-v``; message only.

    Without ``-v`` the INFO lines inside :func:`detail` are hidden (the progress line stands for them).
    """
    global _configured, _hide_detail
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s",
                        stream=sys.stderr if stream is None else stream)
    # gliograde's DEBUG lines (per-epoch detail, selection per fold) only with -v; other libraries stay at INFO
    logging.getLogger("gliograde").setLevel(logging.DEBUG if verbose and not quiet else logging.NOTSET)
    # PyRadiomics logs every feature class at INFO; keep its warnings only.
    logging.getLogger("radiomics").setLevel(logging.WARNING)
    _configured, _hide_detail = True, not verbose


def reset_logging() -> None:
    """Undo :func:`configure_logging`'s gliograde-level settings (the CLI calls it when a command ends, so a
    library call made later in the same process logs as before)."""
    global _configured, _hide_detail
    logging.getLogger("gliograde").setLevel(logging.NOTSET)
    _configured = _hide_detail = False


class _Label(logging.Filter):
    """Prefix gliograde's records with the stretch they belong to (``full fold 3: ...``)."""

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("gliograde") and not getattr(record, "gliograde_label", None):
            record.msg, record.gliograde_label = f"{self.label}: {record.msg}", self.label
        return True


@contextmanager
def detail(label: str) -> Iterator[None]:
    """A stretch of a bigger run (one CV unit, named ``label``) whose INFO lines are detail: hidden unless ``-v``;
    what shows (warnings; everything with ``-v``) is prefixed with ``label``. Only under the CLI's logging
    (:func:`configure_logging`); a library caller keeps its own."""
    if not _configured:
        yield
        return
    gl, handlers = logging.getLogger("gliograde"), list(logging.getLogger().handlers)
    before, label_filter = gl.level, _Label(label)
    if _hide_detail:
        gl.setLevel(logging.WARNING)
    for h in handlers:
        h.addFilter(label_filter)
    try:
        yield
    finally:
        gl.setLevel(before)
        for h in handlers:
            h.removeFilter(label_filter)
