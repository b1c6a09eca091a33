"""Ctrl-C and SIGTERM: a run stops at once, its step in progress rolled back, exit 130.

Python turns SIGINT into a KeyboardInterrupt wherever the main thread happens to be, and
that exception gets lost on the way: DuckDB turns one raised during a query into its own
``RuntimeError: Query interrupted``, a Rust parser turns it into a panic (which a fallback
path may take for a bad file and parse again), and typer prints "Aborted!" for one raised
outside a command. So the signal is also *recorded* here: whatever exception (or none)
ends the command, the CLI's boundary asks `received()` and reports the interrupt.

The CLI installs the handlers once (`install`); they only record the signal, except while
a command's work runs (`armed`), where they raise KeyboardInterrupt as well, so that the
work stops where it is and every ``with`` / ``except BaseException: ROLLBACK`` on the way
out runs. A recorded signal that something swallowed stops the run at its next stage
(`check`). Once the work has stopped, further signals are only recorded, so that the
error line and the exit are not themselves interrupted.
"""

from __future__ import annotations

import signal
import sys
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: int | None = None
_armed = False
_connections: weakref.WeakSet = weakref.WeakSet()  # open DuckDB connections (`watch`)


def _on_signal(signum: int, _frame: object) -> None:
    global _received
    _received = signum
    if _armed:
        _interrupt_queries()
        raise KeyboardInterrupt


def watch(con: object) -> None:
    """Interrupt this DuckDB connection's query when a signal comes (`pipeline.store.open_store`
    calls it). DuckDB's client does not reliably notice a KeyboardInterrupt raised by a
    handler during a query (a SIGTERM's; a SIGINT's while `.pl()` fetches): a long query
    then ran to its end (tests/test_interrupts.py: over 120 s instead of at once)."""
    _connections.add(con)


def _interrupt_queries() -> None:
    for con in list(_connections):
        try:
            con.interrupt()
        except sys.modules["duckdb"].Error:  # a watched connection is DuckDB's, so it is imported
            pass  # closed already


def interrupt_queries() -> None:
    """Interrupt every watched connection's query now (`vsm run --parallel`, stopping its
    streams: a worker may start a query after the signal's own round)."""
    _interrupt_queries()


def _unraisable(hook_args) -> None:
    """The KeyboardInterrupt of a recorded signal raised where Python cannot raise it (a
    weakref callback, e.g. importlib's module-lock cleanup during a lazy import) is not
    printed as "Exception ignored in ..." before the error line: it is recorded, and the run
    stops at its next stage (`check`). Anything else goes to Python's own hook."""
    if _received is not None and isinstance(hook_args.exc_value, KeyboardInterrupt):
        return
    _previous_unraisable(hook_args)


_previous_unraisable = sys.unraisablehook


def install() -> dict[int, object]:
    """Handle SIGINT and SIGTERM as described above; return the handlers they had. A signal
    the process was started with ignored (``nohup``, a background job) stays ignored."""
    global _received, _armed, _previous_unraisable
    _received, _armed = None, False
    if sys.unraisablehook is not _unraisable:
        _previous_unraisable, sys.unraisablehook = sys.unraisablehook, _unraisable
    previous = {}
    for signum in SIGNALS:
        current = signal.getsignal(signum)
        if current is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, _on_signal)
    return previous


@contextmanager
def armed() -> Iterator[None]:
    """While the block runs, a signal raises KeyboardInterrupt (one received before it
    does so at its start)."""
    global _armed
    check()
    _armed = True
    try:
        yield
    finally:
        _armed = False


def check() -> None:
    """Raise KeyboardInterrupt if a signal was received: a point where a run may stop."""
    if _received is not None:
        raise KeyboardInterrupt


def received() -> str | None:
    """The name of the signal received since `install` (SIGINT, SIGTERM), else None."""
    return None if _received is None else signal.Signals(_received).name


def caused_by_interrupt(error: BaseException) -> bool:
    """Whether `error` is an interrupt or came of one: a KeyboardInterrupt, DuckDB's own
    interrupt error, or anything raised while handling or because of either."""
    duckdb = sys.modules.get("duckdb")  # not imported: none of its errors can be here
    duckdb_interrupt = duckdb.InterruptException if duckdb else KeyboardInterrupt
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, KeyboardInterrupt | duckdb_interrupt):
            return True
        if type(error) is RuntimeError and str(error) == "Query interrupted":  # DuckDB's Python client
            return True
        error = error.__cause__ or error.__context__
    return False
