#!/usr/bin/env python3
"""SecantusDB as berth's tests run it: `secantusd-py` plus mongod's background transaction reaper.

mongod aborts a transaction left idle past `transactionLifetimeLimitSeconds` from a background
thread. SecantusDB only reaps when another transaction statement arrives, and a plain write that
meets a transaction's uncommitted write retries while it holds the collection's lock. So a client
killed in the middle of a transaction (the tests do that on purpose: SIGKILL of runners holding a
claim) can wedge a collection for good: the plain write never ends, every statement that needs
the collection waits behind it, and the statement that would reap the dead transaction never
comes. This launcher gives the server what mongod has: a short transaction lifetime
(`BERTH_TEST_TXN_LIFETIME_SECS`, default 2 s) and a thread that aborts idle transactions without
waiting on busy ones. Every flag of `secantusd-py` is accepted unchanged.

It runs under the SecantusDB virtualenv's Python (`BERTH_TEST_VENV`, default `.venv` at the
repository root), re-executing itself there when started by another interpreter.
"""

import logging
import os
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

try:
    import secantus.cli as cli
    from secantus.transactions import TxnState
except ImportError:
    venv = os.environ.get("BERTH_TEST_VENV") or os.path.join(ROOT, ".venv")
    python = os.path.join(venv, "bin", "python")
    # A virtualenv's python is a link to the system one: tell them apart by sys.prefix.
    if os.path.realpath(sys.prefix) == os.path.realpath(venv) or not os.path.exists(python):
        sys.exit(f"secantusd.py: SecantusDB is not installed in {venv}: run ./scripts/test.sh")
    os.execv(python, [python, os.path.abspath(__file__), *sys.argv[1:]])

LIFETIME = float(os.environ.get("BERTH_TEST_TXN_LIFETIME_SECS", "2"))


def idle_transactions(registry, cutoff):
    """The registry's transactions, read without its lock (which a stuck statement may hold)."""
    while True:
        try:
            txns = list(registry._txns.values())
            break
        except RuntimeError:  # changed while being copied
            continue
    return [t for t in txns if t.state is TxnState.IN_PROGRESS and t.last_use < cutoff]


def reap(registry):
    """Aborts transactions idle past LIFETIME; one whose statement is running is left alone."""
    while True:
        time.sleep(max(LIFETIME / 4, 0.05))
        for txn in idle_transactions(registry, time.time() - LIFETIME):
            if not txn.mutex.acquire(blocking=False):
                continue
            try:
                if txn.state is TxnState.IN_PROGRESS and txn.last_use < time.time() - LIFETIME:
                    registry._rollback_quietly(txn)
                    txn.state = TxnState.ABORTED
                    logging.getLogger("berth.reaper").warning(
                        "aborted a transaction idle for %.1f s", time.time() - txn.last_use
                    )
            finally:
                txn.mutex.release()


class ReapingServer(cli.SecantusDBServer):
    """The server with a transaction lifetime of LIFETIME and the background reaper."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("transaction_lifetime_seconds", LIFETIME)
        super().__init__(*args, **kwargs)
        threading.Thread(target=reap, args=(self.transactions,), daemon=True).start()


if __name__ == "__main__":
    cli.SecantusDBServer = ReapingServer
    sys.exit(cli.main())
