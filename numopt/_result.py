"""Result objects, the status catalogue, the convergence warning, callbacks and the iteration printer.

Every numopt solver returns a subclass of :class:`Result`. ``status`` is a :class:`Status` member whose
value is the message shown to the user; ``success`` is derived from it.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import functools
import logging
import sys
import time
import warnings
import weakref
from typing import Any, Callable

import numpy as np

__all__ = ["Result", "Status", "ConvergenceWarning", "call_callback", "IterationPrinter", "finish", "compose_message",
           "warn_user"]


class ConvergenceWarning(UserWarning):
    """Issued when a solver stops without meeting its tolerance (the result has ``success=False``)."""


class Status(enum.Enum):
    """Why a solver stopped. The value of each member is the message the user reads."""

    SUCCESS = "Converged: the stopping criterion `tol` is satisfied."
    ZERO_RHS = "Converged: the right-hand side is zero, so the solution is zero."
    ROUNDING_FLOOR = (
        "Converged to the rounding floor: the iteration stopped improving at the accuracy double precision "
        "allows for this problem, which is above `tol`."
    )
    MAXITER = "Stopped at `maxiter` before reaching `tol`."
    CALLBACK = "Stopped because `callback` raised StopIteration."
    NONFINITE = "Stopped: an iterate became NaN or inf; check the input scaling or lower the step size."
    NOT_POSITIVE_DEFINITE = (
        "Stopped: the operator is not positive definite (a direction p with p'Ap <= 0 was met); "
        "use MINRES/GMRES or regularise the operator."
    )
    PRECONDITIONER_NOT_POSITIVE_DEFINITE = (
        "Stopped: the preconditioner is not positive definite (r'Mr <= 0); use a symmetric positive definite `M`."
    )
    STAGNATION = "Stopped: the iteration stagnated (no progress at machine precision); loosen `tol`."
    RANK_DEFICIENT = (
        "Stopped: the matrix is numerically rank deficient, so the solution is not unique; "
        "use numpy.linalg.lstsq for the minimum-norm solution."
    )
    INNER_SOLVER = "Stopped: an inner solver did not reach the accuracy the method needs at this step."
    NO_DESCENT = (
        "Stopped: no descent direction for the merit function was found even at the penalty limits; the "
        "constraints may be degenerate (their Jacobian rank deficient) or the problem badly scaled."
    )
    DIVERGED = "Stopped: the iterates diverge (|x| or -f grows without bound); the problem may be unbounded below."
    DISCRETIZATION_ERROR = (
        "Not accurate: the discretization cannot represent the solution to the accuracy asked (the domain cuts "
        "it off, or its elements are too coarse)."
    )
    BUDGET = "Stopped: the work budget `budget` was spent before reaching `tol`."
    INCONSISTENT = (
        "Stopped: the residual stopped decreasing; the system looks inconsistent (no exact solution). "
        "Use a least-squares solver such as `lstsq_sketched`."
    )
    INFEASIBLE = "Converged to a point of local infeasibility: a stationary point of the constraint violation."

    @property
    def success(self) -> bool:
        return self in _SUCCESS

    @property
    def code(self) -> int:
        """A stable integer for this status (0 = SUCCESS as in scipy; other successes 10-19, failures 1-9 and
        20 upwards); also ``int(status)``."""
        return _CODES[self]

    def __int__(self) -> int:
        return self.code

    def __repr__(self) -> str:  # pragma: no cover - cosmetic
        return f"<Status.{self.name}>"


_SUCCESS = frozenset({Status.SUCCESS, Status.ZERO_RHS, Status.ROUNDING_FLOOR})

#: Stable integer codes: never renumber a member; a new member takes the next free number of its group.
_CODES = {
    Status.SUCCESS: 0,
    Status.MAXITER: 1,
    Status.CALLBACK: 2,
    Status.NONFINITE: 3,
    Status.STAGNATION: 4,
    Status.NOT_POSITIVE_DEFINITE: 5,
    Status.PRECONDITIONER_NOT_POSITIVE_DEFINITE: 6,
    Status.RANK_DEFICIENT: 7,
    Status.INCONSISTENT: 8,
    Status.ZERO_RHS: 10,
    Status.ROUNDING_FLOOR: 11,
    Status.INNER_SOLVER: 20,
    Status.NO_DESCENT: 21,
    Status.DIVERGED: 22,
    Status.DISCRETIZATION_ERROR: 23,
    Status.BUDGET: 24,
    Status.INFEASIBLE: 25,
}


def _short(value: Any) -> str:
    if isinstance(value, np.ndarray):
        if value.size <= 6:
            return np.array2string(value, precision=6, separator=", ")
        return f"array(shape={value.shape}, dtype={value.dtype})"
    if isinstance(value, Status):
        return f"Status.{value.name}"
    if isinstance(value, float):
        return f"{value:.6g}"
    text = repr(value)
    return text if len(text) <= 70 else text[:67] + "..."


@dataclasses.dataclass(kw_only=True, repr=False, eq=False)
class Result(collections.abc.Mapping):
    """Base of every numopt result.

    A read-only mapping of its fields, like ``scipy.optimize.OptimizeResult`` (``res["x"]``, ``"x" in res``,
    ``dict(res)``, ``res.get("nit")``), with attribute access as well.

    Attributes
    ----------
    x : ndarray
        The solution the solver returns.
    success : bool
        Whether the stopping criterion was met.
    status : Status
        Why the solver stopped.
    message : str
        Human-readable explanation; what to try next when ``success`` is False. It is always
        ``status.value`` followed by ``detail`` (the family's specifics), so it starts with the status'
        catalogue text and never names the function (:func:`finish` adds that to the warning).
    detail : str
        What this run adds to the catalogue text: the numbers it stopped at and what to try next.
    nit : int
        Number of (outer) iterations performed.
    """

    x: Any
    status: Status
    nit: int = 0
    detail: str = ""
    message: str = dataclasses.field(init=False)
    success: bool = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.status, Status):
            raise TypeError(f"Result: `status` must be a Status member; got {self.status!r}.")
        self.success = self.status.success
        self.message = compose_message(self.status, self.detail)

    def __repr__(self) -> str:
        names = [f.name for f in dataclasses.fields(self)]
        order = ["success", "status", "message", "nit"] + [n for n in names if n not in {"success", "status", "message", "nit"}]
        width = max(len(n) for n in order)
        lines = [f"{type(self).__name__}("]
        for name in order:
            lines.append(f"  {name.rjust(width)}: {_short(getattr(self, name))}")
        lines.append(")")
        return "\n".join(lines)

    def keys(self) -> list[str]:
        """Field names, as for scipy's ``OptimizeResult``."""
        return [f.name for f in dataclasses.fields(self)]

    def __getitem__(self, key: str) -> Any:
        if isinstance(key, str) and key in {f.name for f in dataclasses.fields(self)}:
            return getattr(self, key)
        raise KeyError(key)

    def __iter__(self):
        return iter(self.keys())

    def __len__(self) -> int:
        return len(dataclasses.fields(self))


def compose_message(status: Status, detail: str = "") -> str:
    """The one way a user-facing message is built: the catalogue text of ``status``, then ``detail``."""
    detail = detail.strip()
    return f"{status.value} {detail}" if detail else status.value


def call_callback(callback: Callable | None, intermediate: Any) -> bool:
    """Call ``callback(intermediate)``; return True when it asked to stop by raising StopIteration."""
    if callback is None:
        return False
    try:
        callback(intermediate)
    except StopIteration:
        return True
    return False


def warn_user(message: str, category: type[Warning] = None) -> None:
    """``warnings.warn`` pointing at the user's line: the first frame outside numopt (and outside the
    ``contextlib``/``functools`` wrappers numopt's decorators add), as scipy and scikit-learn do."""
    frame, level = sys._getframe(1), 2
    while frame is not None and (frame.f_globals.get("__name__", "").split(".")[0] in {"numopt", "contextlib",
                                                                                        "functools"}):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category or ConvergenceWarning, stacklevel=level)


def finish(result: Result, func: str, *, warn: bool = True) -> Result:
    """Issue a :class:`ConvergenceWarning` for an unsuccessful ``result`` and return it.

    The warning reads ``"{func}: {result.message}"``: this is the only place the function name is added.
    """
    if warn and not result.success and result.status is not Status.CALLBACK:
        warn_user(f"{func}: {result.message}", ConvergenceWarning)
    return result


def _emit_line(logger: logging.Logger, fallback: logging.Handler, where: tuple, line: str,
               values: dict | None = None) -> None:
    """One line of an iteration table: through ``logger`` when logging is set up to show it, else ``fallback``.
    ``where`` is (file, line, function) of the solver code that made the printer, for the record."""
    record = logger.makeRecord(logger.name, logging.INFO, where[0], where[1], line, None, None, func=where[2],
                               extra={"numopt_row": values or {}})
    if logger.isEnabledFor(logging.INFO) and logger.hasHandlers():
        logger.handle(record)
    else:
        fallback.handle(record)


def _format_row(values: list, width: int, elapsed_last: bool) -> str:
    """One fixed-width row: floats with 6 significant digits; the elapsed seconds (last) with 2 decimals."""
    cells = []
    for i, v in enumerate(values):
        if elapsed_last and i == len(values) - 1:
            cells.append(f"{v:.2f}".rjust(width))
        elif isinstance(v, (float, np.floating)):
            cells.append(f"{v:.6g}".rjust(width))
        else:
            cells.append(str(v).rjust(width))
    return "".join(cells)


class _PrinterState:
    """What an :class:`IterationPrinter` must still emit when it goes away (the last row, if skipped).

    Kept apart from the printer (no reference back to it) so that the finalizer that flushes it does not keep
    the printer alive."""

    __slots__ = ("logger", "fallback", "where", "pending")

    def __init__(self, logger, fallback, where):
        self.logger = logger
        self.fallback = fallback
        self.where = where
        self.pending = None

    def emit(self, line: str, values: dict | None = None) -> None:
        _emit_line(self.logger, self.fallback, self.where, line, values)

    def flush(self) -> None:
        if self.pending is not None:
            (make_line, values), self.pending = self.pending, None
            self.emit(make_line(), values)


class _StdoutHandler(logging.Handler):
    """Writes the bare message to the *current* ``sys.stdout`` (or a given stream), as ``print`` would."""

    def __init__(self, stream=None):
        super().__init__(logging.INFO)
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        stream = self.stream if self.stream is not None else sys.stdout
        stream.write(record.getMessage() + "\n")
        stream.flush()


class IterationPrinter:
    """The one fixed-width iteration table used by ``verbose=True``, on a log/time schedule, through `logging`.

    Schedule: every row for the first ``first`` (10) calls of :meth:`row`, then every 10th up to 100, every
    100th up to 1000, and so on (nine rows a decade), plus any row that comes ``interval`` (2) seconds of
    wall time after the last one printed, plus always the last row (the pending row is emitted when the
    solver is done with the printer). A ``time`` column (seconds since the printer was made) is appended
    unless the caller has its own.

    Each line is an ``INFO`` record of the logger ``numopt.<family>`` (for instance ``numopt.ot``), named
    after the module that made the printer, with the row's values in ``record.numopt_row`` (a dict). When
    logging is configured to show those records (a handler on the logger or an ancestor and the level
    ``INFO`` or lower, e.g. ``logging.basicConfig(level=logging.INFO)``), the table goes there; otherwise
    it is printed to ``sys.stdout`` (or ``stream``), so that ``verbose=True`` always shows it.

    >>> p = IterationPrinter(["nit", "residual"], stream=sys.stdout, clock=lambda: 0.0)
    >>> p.row(1, 0.5)
             nit    residual        time
               1         0.5        0.00
    """

    def __init__(self, columns: list[str], *, stream=None, width: int = 12, logger: str | logging.Logger | None = None,
                 first: int = 10, interval: float = 2.0, clock: Callable[[], float] = time.perf_counter):
        self.columns = list(columns)
        self._add_time = "time" not in self.columns
        if self._add_time:
            self.columns.append("time")
        self.width = width
        self.stream = stream
        caller = sys._getframe(1)
        if logger is None:
            module = caller.f_globals.get("__name__", "numopt")
            logger = ".".join(module.split(".")[:2]) if module.startswith("numopt.") else "numopt"
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.first = first
        self.interval = interval
        self.clock = clock
        self._start = clock()
        self._last_printed = self._start
        self._calls = 0
        self._header_done = False
        where = (caller.f_code.co_filename, caller.f_lineno, caller.f_code.co_name)
        self._state = _PrinterState(self.logger, _StdoutHandler(stream), where)
        # The last row is emitted when the solver drops the printer (CPython frees it on return).
        weakref.finalize(self, self._state.flush).atexit = False

    def _scheduled(self, k: int, now: float) -> bool:
        if k <= self.first or now - self._last_printed >= self.interval:
            return True
        decade = 10 ** (len(str(k)) - 1)
        return k % decade == 0

    def row(self, *values: Any) -> None:
        """Record one iteration; print it if the schedule says so (else keep it as the pending last row)."""
        now = self.clock()
        self._calls += 1
        values = list(values)
        if self._add_time:
            values.append(now - self._start)
        if not self._scheduled(self._calls, now):  # formatted only if it turns out to be the last row
            # no reference to self in the pending row: the finalizer that prints it must not keep the printer alive
            self._state.pending = (functools.partial(_format_row, values, self.width, self._add_time),
                                   dict(zip(self.columns, values)))
            return
        if not self._header_done:
            self._state.emit("".join(c.rjust(self.width) for c in self.columns))
            self._header_done = True
        self._state.pending = None
        self._last_printed = now
        self._state.emit(_format_row(values, self.width, self._add_time), dict(zip(self.columns, values)))

    def close(self) -> None:
        """Emit the last row if the schedule skipped it (also done automatically when the printer is freed)."""
        self._state.flush()
