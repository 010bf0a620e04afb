"""Every real lesson graded in the jail: the master's solutions earn full points with status ok,
and the released (student) version earns 0, also with status ok.

This is what an instructor's class goes through: each lesson's own cells (progress panel, key
explorer, practice setup, ...) must run in a kernel that sees no check module and no master
notebook, so a lesson cell that needs either would show up here as ``lesson-cell-error``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from kms_course import cli
from kms_course.instructor.grading import jail
from kms_course.instructor.transforms import RELEASE_STEPS, apply

REASON = jail.unavailable()
pytestmark = [
    pytest.mark.skipif(REASON is not None, reason=f"no grading jail here: {REASON}"),
    pytest.mark.slow,
]
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
LESSONS = sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


SIGNING = "09_asymmetric_keys_signing_and_macs"
#: 09-verify-offline asks for offline verification and refuses a KMS Verify call (the trail
#: shows it), skipping the checks' own calls, which carry a User-Agent mark: this answer calls
#: Verify with the mark copied into its own User-Agent (found by the lesson 09 trial).
FORGED_MARK = """
vendor_public_key = kms.get_public_key(KeyId=vendor_key_id)["PublicKey"]
def _mark(request, **_):
    request.headers["User-Agent"] = "Boto3 kms-course-check/09"
kms.meta.events.register("before-sign.kms", _mark)
genuine = []
for received, signature in zip(vendor_messages, vendor_signatures):
    try:
        genuine.append(kms.verify(KeyId=vendor_key_id, Message=received, Signature=signature,
                                  MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"])
    except kms.exceptions.KMSInvalidSignatureException:
        genuine.append(False)
kms.meta.events.unregister("before-sign.kms", _mark)
"""


def _forged_mark_submission():
    nb = nbformat.read(NOTEBOOKS / f"{SIGNING}.ipynb", 4)
    for cell in nb.cells:
        meta = cell.metadata.get("kms_course") or {}
        if meta.get("exercise") == "09-verify-offline" and meta.get("role") == "solution":
            cell.source = FORGED_MARK
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("lessons")
    for lesson in LESSONS:
        (root / "solved").mkdir(exist_ok=True)
        (root / "blank").mkdir(exist_ok=True)
        shutil.copy(NOTEBOOKS / f"{lesson}.ipynb", root / "solved" / f"{lesson}.ipynb")
        released = apply(nbformat.read(NOTEBOOKS / f"{lesson}.ipynb", 4), RELEASE_STEPS)
        nbformat.write(released, root / "blank" / f"{lesson}.ipynb")
    (root / "forged-mark").mkdir()
    nbformat.write(_forged_mark_submission(), root / "forged-mark" / f"{SIGNING}.ipynb")
    out = root / "out"
    code = cli.main(["grade", str(root / "solved"), str(root / "blank"), str(root / "forged-mark"),
                     "--out", str(out),
                     "--no-progress", "--timeout", "300"])
    results = {}
    for path in (out / "results").rglob("*.json"):
        result = json.loads(path.read_text())
        results[(result["student"], result["lesson"])] = result
    return code, results


@pytest.mark.parametrize("lesson", LESSONS)
def test_master_solutions_earn_full_points_in_the_jail(graded, lesson):
    code, results = graded
    assert code == 0
    result = results[("solved", lesson)]
    assert result["jailed"] is True
    assert result["status"] == "ok", (result["status"], result["messages"])
    assert result["total"] == result["max_points"] > 0


@pytest.mark.parametrize("lesson", LESSONS)
def test_released_lessons_earn_nothing_and_run_clean(graded, lesson):
    _, results = graded
    result = results[("blank", lesson)]
    assert result["status"] == "ok", (result["status"], result["messages"])
    assert result["total"] == 0


def test_a_submission_cannot_hide_its_calls_behind_the_checks_mark(graded):
    _, results = graded
    result = results[("forged-mark", SIGNING)]
    exercises = result["exercises"]
    assert exercises["09-verify-offline"]["passed"] is False, exercises["09-verify-offline"]
    assert "Verify" in exercises["09-verify-offline"]["message"]
    others = {k: v["passed"] for k, v in exercises.items() if k != "09-verify-offline"}
    assert all(others.values()), others
