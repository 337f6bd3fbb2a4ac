"""The library's log messages (possible leaks, connections found dead,
failed background connects) routed to the ``pymysqlpool`` logger, and the
borrowers' stacks that make a leak report useful."""

import atexit
import logging
import threading
import traceback

from . import _lib

logger = logging.getLogger("pymysqlpool")

# Connection handle -> the stack of the get_connection() that borrowed it,
# kept only for pools with leak_detection_threshold.
_BORROWERS = {}
_route_lock = threading.Lock()
_callback = None  # the ctypes callback object, kept alive while installed


def remember_borrower(handle):
    _BORROWERS[handle] = traceback.extract_stack(limit=16)[:-2]  # without the pool's own frames


def forget_borrower(handle):
    _BORROWERS.pop(handle, None)


def _deliver(_user_data, level, pool_name, conn, message):
    try:
        text = message.decode("utf-8", "replace")
        name = pool_name.decode("utf-8", "replace")
        stack = _BORROWERS.get(conn) if conn else None
        if stack:
            text += "; borrowed at:\n" + "".join(traceback.format_list(stack)).rstrip()
        logger.log(level, "pool(%s): %s", name, text)
    except Exception:  # noqa: BLE001 - an exception must never cross into the library
        pass


def route_library_messages():
    """Installs the callback once per process; DEBUG messages cross only when
    the logger wants them (each crossing takes the GIL)."""
    global _callback
    with _route_lock:
        level = logging.DEBUG if logger.isEnabledFor(logging.DEBUG) else logging.INFO
        if _callback is None:
            _callback = _lib.LOG_CALLBACK(_deliver)
            atexit.register(_stop_routing)
        _lib.check(_lib.pool_set_log_callback(_callback, None, level))


def _stop_routing():
    """At exit, before the interpreter goes: maintenance threads may still log."""
    _lib.pool_set_log_callback(_lib.LOG_CALLBACK(), None, 0)
