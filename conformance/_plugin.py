"""pytest plugin loaded into each conformance run (copied next to the tests).

Records one JSON line per test (class, outcome, first line of the error) and
bounds each test's run time, so one pathological test cannot stall the run.
"""
import json
import os
import signal

import pytest

_OUT = os.environ["CONFORMANCE_RESULTS"]
_LIMIT = int(os.environ.get("CONFORMANCE_TEST_TIMEOUT", "180"))
_records = {}


def pytest_configure(config):
    # markers scipy's own conftest registers; unknown ones would only warn
    for m in ("slow", "xslow", "fail_slow", "thread_unsafe", "parallel_threads",
              "iterations", "timeout", "array_api_backends", "skip_xp_backends",
              "xfail_xp_backends", "skip_xp_invalid_arg", "xp_backends"):
        config.addinivalue_line("markers", m)


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout(f"test ran past {_LIMIT} s (conformance per-test limit)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(_LIMIT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _message(report):
    if report.longrepr is None:
        return ""
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        # first lines joined: assert_equal puts the values on the lines after "AssertionError:"
        lines = [ln.strip() for ln in (crash.message or "").splitlines() if ln.strip()]
        return " / ".join(lines[:4])[:300]
    if isinstance(report.longrepr, tuple):       # skips: (file, line, reason)
        return str(report.longrepr[2])[:300]
    return str(report.longrepr).strip().splitlines()[-1][:300]


def pytest_runtest_logreport(report):
    rec = _records.setdefault(report.nodeid, {"nodeid": report.nodeid, "outcome": None,
                                             "message": ""})
    xfail = hasattr(report, "wasxfail")
    if report.when == "call":
        if xfail:
            rec["outcome"] = "skipped" if report.skipped else "passed"
        else:
            rec["outcome"] = report.outcome
        if report.outcome != "passed":
            rec["message"] = _message(report)
    elif report.outcome == "skipped" and rec["outcome"] is None:
        rec["outcome"] = "skipped"
        rec["message"] = _message(report)
    elif report.outcome == "failed" and rec["outcome"] in (None, "passed"):
        rec["outcome"] = "error"
        rec["message"] = _message(report)


def pytest_sessionfinish(session):
    with open(_OUT, "w") as f:
        for rec in _records.values():
            f.write(json.dumps(rec) + "\n")
