"""``verbose=True``: the one iteration table (IterationPrinter) on a log/time schedule, through ``logging``."""

import gc
import logging
import weakref

import numpy as np
import scipy.sparse as sp

from numopt import linalg
from numopt._result import IterationPrinter


def _nits(text):
    return [int(line.split()[0]) for line in text.strip().splitlines()[1:]]


def _poisson(n):
    return sp.diags_array([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], offsets=[-1, 0, 1], format="csr")


def test_schedule_every_row_up_to_ten_then_nine_a_decade_and_the_last(capsys):
    p = IterationPrinter(["nit", "value"], clock=lambda: 0.0)
    for k in range(1, 1235):
        p.row(k, 1.0 / k)
    p.close()
    expected = [*range(1, 11), *range(20, 101, 10), *range(200, 1001, 100), 1234]
    assert _nits(capsys.readouterr().out) == expected


def test_schedule_prints_at_least_every_interval_seconds(capsys):
    clock = iter(np.arange(0.0, 100.0, 0.75)).__next__  # 0.75 s per call: a time row every 3rd call after 10
    p = IterationPrinter(["nit"], clock=clock, interval=2.0)
    for k in range(1, 31):
        p.row(k)
    p.close()
    assert _nits(capsys.readouterr().out) == [*range(1, 11), 13, 16, 19, 20, 23, 26, 29, 30]


def test_close_twice_and_no_pending_row_print_nothing_more(capsys):
    p = IterationPrinter(["nit"], clock=lambda: 0.0)
    for k in range(1, 21):
        p.row(k)
    p.close()
    p.close()
    assert _nits(capsys.readouterr().out) == [*range(1, 11), 20]


def test_elapsed_time_column_is_added_unless_the_caller_has_one(capsys):
    p = IterationPrinter(["nit", "residual"], clock=iter([10.0, 10.0, 12.5]).__next__)
    p.row(1, 0.5)
    p.row(2, 0.25)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["nit", "residual", "time"]
    assert lines[1].split() == ["1", "0.5", "0.00"] and lines[2].split() == ["2", "0.25", "2.50"]
    q = IterationPrinter(["nit", "time"])
    q.row(1, 7.0)
    assert capsys.readouterr().out.splitlines()[0].split() == ["nit", "time"]


def test_long_solver_run_prints_a_short_table_ending_at_the_last_iteration(capsys):
    # 150 CG iterations: 10 + 9 + the last row, not 150 rows; the last row appears when the solver returns
    # (refcounting frees the printer; gc is off to prove no collection is needed).
    gc.disable()
    try:
        res = linalg.cg(_poisson(300), np.ones(300), rtol=1e-12, verbose=True)
        out = capsys.readouterr().out
    finally:
        gc.enable()
    nits = _nits(out)
    assert res.nit > 100
    assert nits[:10] == list(range(1, 11)) and nits[-1] == res.nit
    assert len(nits) <= 10 + 9 + 1 + 5  # a few time-triggered rows at most under load


def test_rows_go_through_the_family_logger_when_logging_shows_them(caplog, capsys):
    with caplog.at_level(logging.INFO, logger="numopt"):
        res = linalg.cg(_poisson(20), np.ones(20), verbose=True)
    assert capsys.readouterr().out == ""  # routed to logging, not printed twice
    records = [r for r in caplog.records if r.name == "numopt.linalg"]
    assert records[0].getMessage().split() == ["nit", "residual", "time"]
    rows = [r.numopt_row for r in records[1:]]
    assert rows[-1]["nit"] == res.nit and rows[-1]["residual"] >= 0.0 and "time" in rows[-1]
    assert all(r.levelno == logging.INFO for r in records)
    assert all(r.filename == "_cg.py" and r.funcName for r in records)  # the solver's module, for formatters


def test_stdout_when_logging_is_configured_above_info(capsys):
    logger = logging.getLogger("numopt")
    handler = logging.StreamHandler()  # stderr, WARNING: the user's logging does not show INFO records
    logger.addHandler(handler)
    try:
        linalg.cg(_poisson(20), np.ones(20), verbose=True)
    finally:
        logger.removeHandler(handler)
    out, err = capsys.readouterr()
    assert out.splitlines()[0].split() == ["nit", "residual", "time"] and err == ""


def test_logger_name_follows_the_module_that_made_the_printer():
    assert IterationPrinter(["nit"]).logger.name == "numopt"  # made from a test module: the package logger
    assert IterationPrinter(["nit"], logger="numopt.ot").logger.name == "numopt.ot"


def test_dropping_the_printer_prints_the_pending_last_row_without_gc(capsys):
    gc.disable()
    try:
        p = IterationPrinter(["nit"], clock=lambda: 0.0)
        for k in range(1, 16):
            p.row(k)
        ref = weakref.ref(p)
        del p  # refcounting alone frees it (no cycle through the pending row) and prints row 15
        assert ref() is None
        assert _nits(capsys.readouterr().out) == [*range(1, 11), 15]
    finally:
        gc.enable()
