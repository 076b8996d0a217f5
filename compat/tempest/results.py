"""Reads the subunit v2 stream of a Tempest run and prints one JSON object per test result.

    results.py RESULTS.subunit

Each line is {"id": ..., "status": ..., "detail": ...}: the test id without its [attributes],
its final status (success, fail, skip, xfail, uxsuccess), and for anything but a success the
error or skip reason in one line: the exception that ended the test (with the response body
Tempest attaches to it), or the reason of the skip. Class fixtures that failed show up with
ids like "setUpClass (tempest.api.identity.v3.test_x.SomeTest)". Run with the interpreter of
the virtualenv holding Tempest, which brings python-subunit and testtools.
"""

import json
import re
import sys

import subunit
import testtools

FINAL = {"success", "fail", "skip", "xfail", "uxsuccess"}


def one_line(text, limit=600):
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def error_of(details):
    """The exception that ended the test, from its traceback, else the skip reason."""
    for name in ("traceback", "reason"):
        content = details.get(name)
        if content is None:
            continue
        text = content.as_text()
        if name == "reason":
            return one_line(text)
        lines = text.rstrip().splitlines()
        # The exception starts at the first unindented line after the last traceback's frames
        # (which are indented); what follows it (Tempest's "Details: {...}") belongs to it.
        last = max((i for i, line in enumerate(lines) if line.startswith("Traceback")),
                   default=-1)
        start = next((i for i in range(last + 1, len(lines))
                      if lines[i] and not lines[i][0].isspace()), last + 1)
        return one_line(" ".join(lines[start:]))
    return ""


def main():
    path = sys.argv[1]
    out = []

    def record(test):
        if test["status"] not in FINAL:
            return
        test_id = re.sub(r"\[[^\]]*\]$", "", test["id"])
        detail = "" if test["status"] == "success" else error_of(test["details"])
        out.append({"id": test_id, "status": test["status"], "detail": detail})

    with open(path, "rb") as stream:
        case = subunit.ByteStreamToStreamResult(stream, non_subunit_name="stdout")
        result = testtools.StreamToDict(record)
        result.startTestRun()
        try:
            case.run(result)
        finally:
            result.stopTestRun()
    for item in out:
        print(json.dumps(item))


if __name__ == "__main__":
    main()
