"""Expected failures and how every command reports them: one or two lines and an exit code
(``sim.faces.commands`` and ``sim.faces.cli`` call ``report``).

A ``ConfigError`` (bad input) exits 2; a ``RunError`` (a busy or unusable run directory, outputs
that are not finite numbers) and an ``OSError`` (a read-only or full disk, a path that is a file)
exit 1; Ctrl-C exits 130. Anything else is a bug and keeps its traceback. ``--debug`` on any
command, or ``HYDRA_FULL_ERROR=1``, shows the full traceback of an expected failure too.
"""

from __future__ import annotations

import os
import sys

from sim.schema.config import ConfigError

EXIT_CONFIG, EXIT_RUN, EXIT_INTERRUPTED = 2, 1, 130


class RunError(RuntimeError):
    """A run that cannot go on for a reason the user can act on; the message says which."""


def debugging(argv: list[str] | None = None) -> bool:
    """True if the user asked for full tracebacks (``--debug``, removed from ``argv`` in place, or
    ``HYDRA_FULL_ERROR=1``). The first call records the answer in ``SIM_DEBUG`` for the rest of
    the process and its workers, so that the CLI may set ``HYDRA_FULL_ERROR`` for its own use."""
    argv = sys.argv if argv is None else argv
    flag = "--debug" in argv
    while "--debug" in argv:
        argv.remove("--debug")
    if flag:
        os.environ["SIM_DEBUG"] = "1"
    if "SIM_DEBUG" not in os.environ:
        os.environ["SIM_DEBUG"] = "1" if os.environ.get("HYDRA_FULL_ERROR") == "1" else "0"
    return os.environ["SIM_DEBUG"] == "1"


def describe(err: BaseException) -> tuple[str, int] | None:
    """(message, exit code) for an expected failure, None for a bug."""
    if isinstance(err, ConfigError):
        return f"error: {err}", EXIT_CONFIG
    if isinstance(err, RunError):
        return f"error: {err}", EXIT_RUN
    if isinstance(err, KeyboardInterrupt):
        return (
            "interrupted (Ctrl-C); a finished run in the same directory is left as it was",
            EXIT_INTERRUPTED,
        )
    if isinstance(err, OSError):
        where = f" {err.filename}" if getattr(err, "filename", None) else ""
        reason = err.strerror or str(err)
        return f"error: cannot read or write{where}: {reason}", EXIT_RUN
    return None


def report(err: BaseException) -> int:
    """Print an expected failure in one or two lines and return its exit code; re-raise a bug
    (and anything under --debug)."""
    described = describe(err)
    if described is None or debugging([]):
        raise err
    message, code = described
    print(message, file=sys.stderr, flush=True)
    if code != EXIT_INTERRUPTED:
        print("(add --debug or set HYDRA_FULL_ERROR=1 for the traceback)", file=sys.stderr)
    return code


def exit_cleanly(err: BaseException) -> None:
    """``report`` the failure and exit with its code."""
    sys.exit(report(err))
