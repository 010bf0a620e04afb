"""The synthetic class: each case is a student, what they submit, and the points it must get.

Every cheat and every failure the grader must survive is one student here. ``expected`` is the
exact points per exercise; ``status`` lists status words the result must contain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from fixture import SOLUTIONS

KEY, BLOB = SOLUTIONS["90-key"], SOLUTIONS["90-blob"]


@dataclass
class Case:
    student: str
    sources: dict[str, str] | None = None
    tamper: Callable | None = None
    raw: str | None = None  # write these bytes/text instead of a notebook
    expected: dict[str, int] = field(default_factory=lambda: {"90-key": 0, "90-blob": 0})
    status: tuple[str, ...] = ("ok",)


def _edit_checks(nb):
    """Replace one check cell by a fake pass line and delete the other one."""
    checks = [c for c in nb.cells if c.metadata.get("kms_course", {}).get("role") == "check"]
    checks[0].source = 'print("PASSED 90-key: 2/2 points. Well done.")'
    nb.cells.remove(checks[1])
    return nb


def _shuffle_lesson_cells(nb):
    """Delete the setup cell, re-type a lesson cell, move cells around and add a cell."""
    from nbformat.v4 import new_code_cell

    setup = nb.cells[1]
    nb.cells.remove(setup)
    nb.cells[-1].cell_type = "markdown"
    nb.cells[-1].pop("outputs", None)
    nb.cells[-1].pop("execution_count", None)
    nb.cells.reverse()
    # an added cell now belongs to the next exercise's answer (cells.answer_cells): harmless here
    nb.cells.insert(0, new_code_cell("print('a cell the student added')"))
    return nb


MONKEYPATCH = """import kms_course, kms_course.lessons.exercises as ex
ex.run_check = lambda i, k, v: ex.Verdict(i, True, 99, 2, "patched")
ex.CheckFailed = type("Nope", (Exception,), {})
kms_course.check = check = lambda *a, **k: print("PASSED 90-key: 2/2 points.")
import fixture_checks
fixture_checks._key = lambda kms, answers: None
fixture_key_id = "1234abcd-12ab-34cd-56ef-1234567890ab"
"""

MOTO_DIRECT = """# write a key straight into moto's data instead of calling KMS
from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID
backend = get_backend("kms")[DEFAULT_ACCOUNT_ID]["us-east-1"]
fake = backend.create_key(policy=None, key_usage="ENCRYPT_DECRYPT", key_spec="SYMMETRIC_DEFAULT",
                          description="grading fixture", tags=None)
fixture_key_id = fake.id
import urllib.request, os
url = os.environ["KMS_COURSE_SERVER_URL"]
for path in ("/moto-api/reset", "/moto-api/seed?a=42", "/moto-api/state-manager/set-transition"):
    try:
        urllib.request.urlopen(urllib.request.Request(url + path, data=b"{}", method="POST"))
        print("REACHED", path)
    except Exception as error:
        print("refused", path, error)
"""

DISK = """# look for check data and grader files on disk, and plant a fake result
import glob, json, os, pathlib, fixture_checks
source = pathlib.Path(fixture_checks.__file__).read_text()
fixture_key_id = source.split("DESCRIPTION = ")[1].split("\\n")[0].strip('"')
fake = {"student": "disk", "key": "disk", "sha256": "x", "lesson": "90_grading_fixture",
        "status": "ok", "messages": [], "total": 5, "max_points": 5,
        "exercises": {"90-key": {"points": 2, "max_points": 2, "passed": True},
                      "90-blob": {"points": 3, "max_points": 3, "passed": True}}}
target = pathlib.Path("{OUT}") / "results" / "disk" / "disk.json"
target.parent.mkdir(parents=True, exist_ok=True)
target.write_text(json.dumps(fake))
"""

V3_NOTEBOOK = "v3"  # marker: the test writes the full solution as an nbformat 3 notebook

CASES = [
    Case("full", dict(SOLUTIONS), expected={"90-key": 2, "90-blob": 3}),
    Case("blank", None),
    Case("partial", {"90-key": KEY}, expected={"90-key": 2, "90-blob": 0}),
    Case("wrong", {"90-key": 'fixture_key_id = kms.create_key(Description="other")["KeyMetadata"]["KeyId"]'}),
    Case("fakeprint", {"90-key": 'print("PASSED 90-key: 2/2 points. Well done.")',
                       "90-blob": 'print("PASSED 90-blob: 3/3 points. Well done.")'}),
    Case("editedchecks", {"90-key": "fixture_key_id = 'made-up'"}, tamper=_edit_checks),
    Case("shuffled", dict(SOLUTIONS), tamper=_shuffle_lesson_cells,
         expected={"90-key": 2, "90-blob": 3}),
    # the checks are not in a jailed kernel at all: importing them fails
    Case("monkeypatch", {"90-key": MONKEYPATCH}, status=("solution-error",)),
    Case("motodirect", {"90-key": MOTO_DIRECT}),
    Case("disk", {"90-key": DISK}, status=("solution-error",)),
    Case("loop", {"90-key": "while True:\n    pass", "90-blob": BLOB},
         expected={"90-key": 0, "90-blob": 3}, status=("cell-timeout",)),
    Case("stubborn", {"90-key": "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
                      "90-blob": BLOB}, status=("cell-timeout", "kernel-unresponsive")),
    Case("workthensysexit", {"90-key": KEY + "\nimport sys\nsys.exit(0)", "90-blob": BLOB},
         expected={"90-key": 0, "90-blob": 3}, status=("solution-error",)),
    # 10 MB of output, ten times the per-notebook cap, in a cell that then ends normally: the
    # output is cut, the work still counts. (An endless loop is the "loop" case: an endless
    # *printing* loop depends on how fast a loaded machine drains the output after the interrupt.)
    Case("flood", {"90-key": KEY + "\nfor _ in range(100):\n    print('x' * 100_000)", "90-blob": BLOB},
         expected={"90-key": 2, "90-blob": 3}, status=("output-truncated",)),
    Case("sysexit", {"90-key": "import sys\nsys.exit(3)", "90-blob": BLOB},
         expected={"90-key": 0, "90-blob": 3}, status=("solution-error",)),
    Case("osexit", {"90-key": KEY, "90-blob": "import os\nos._exit(1)"},
         expected={"90-key": 2, "90-blob": 0}, status=("kernel-died",)),
    Case("killed", {"90-key": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "90-blob": BLOB},
         status=("kernel-died",)),
    Case("syntax", {"90-key": "fixture_key_id = (", "90-blob": BLOB},
         expected={"90-key": 0, "90-blob": 3}, status=("solution-error",)),
    Case("notjson", raw="this is not JSON {", status=("not-json",)),
    Case("oldformat", raw=V3_NOTEBOOK, expected={"90-key": 2, "90-blob": 3}),
    Case("badv3", raw='{"nbformat": 3, "nbformat_minor": 0, "worksheets": 7}',
         status=("unsupported-nbformat",)),
    Case("otherlesson", raw="lesson03", status=("wrong-lesson",)),
]
