# SPDX-License-Identifier: Apache-2.0
"""checks.py - what the Python integration tests print for each check,
"ok WHAT" or "FAIL WHAT DETAIL", and the summary they end with.

    from checks import check, failures, summary
    check(got == want, "what was checked", detail_shown_on_failure)
    sys.exit(summary(t0))        # t0 = time.monotonic() at the start
"""
import time

failures = []


def check(cond, what, detail=""):
    """Print the check's line; remember a failure.  Returns COND."""
    if cond:
        print("ok   %s" % what, flush=True)
    else:
        failures.append(what)
        print("FAIL %s %s" % (what, detail), flush=True)
    return cond


def summary(t0):
    """The run time and every failure again; the exit status (0 or 1)."""
    print("(%.1fs)" % (time.monotonic() - t0))
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0
