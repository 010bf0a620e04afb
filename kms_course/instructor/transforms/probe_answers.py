"""Put an answer probe where each check cell is: a cell that prints the exercise's answers.

The grader never trusts a check run inside the student's kernel. Instead, at the point where the
student would run ``check("id")``, a probe cell prints one line, ``<marker><JSON>``, holding the
values of the exercise's ``Exercise.answers`` names from the notebook's globals (plain data only:
str, int, float, bool, None, bytes as base64, lists and dicts of those). The grader reads that
line, treats the values as untrusted data, and runs the check in its own process against the
sandbox server it owns (see :mod:`kms_course.instructor.grading.execute`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping

import nbformat
from nbformat import NotebookNode

from kms_course.lessons.cells import exercise_id, is_check

_PROBE = '''def __kms_course_probe__(names, marker):
    import base64, json
    g = globals()
    def enc(v, depth=0):
        if depth > 32:
            raise ValueError("nested too deeply")
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, (bytes, bytearray, memoryview)):
            return {"__bytes__": base64.b64encode(bytes(v)).decode("ascii")}
        if isinstance(v, (list, tuple)):
            return [enc(x, depth + 1) for x in v]
        if isinstance(v, dict):
            return {"__dict__": [[enc(k, depth + 1), enc(x, depth + 1)] for k, x in v.items()]}
        raise TypeError(type(v).__name__)
    out = {}
    for name in names:
        if name in g:
            try:
                out[name] = {"value": enc(g[name])}
            except Exception as error:
                out[name] = {"error": type(error).__name__ + ": " + str(error)[:200]}
    print(marker + json.dumps(out))
__kms_course_probe__(%s, %s)
del __kms_course_probe__'''


def probe_source(names: tuple[str, ...] | list[str], marker: str) -> str:
    """Source of a probe cell printing ``marker + JSON`` of the globals ``names``."""
    return _PROBE % (json.dumps(list(names)), json.dumps(marker))


def probe_answers(
    nb: NotebookNode,
    answers: Mapping[str, tuple[str, ...]],
    marker: str,
    keep_checks: bool = False,
) -> NotebookNode:
    """Return a copy of ``nb`` with a probe cell at each check cell of an exercise in ``answers``.

    Args:
        nb: the notebook to execute (normally the output of ``take_master_cells``).
        answers: exercise id -> variable names to fetch (``Exercise.answers``).
        marker: a per-run random prefix of the probe's output line.
        keep_checks: False (grading): the probe replaces the check cell, so nothing in the kernel
            checks anything; True (``validate``): the probe comes right after the check cell.

    The probe cells carry ``metadata.kms_course = {"role": "probe", "exercise": id}``.
    """
    nb = copy.deepcopy(nb)
    cells = []
    for cell in nb.cells:
        ex = exercise_id(cell)
        if is_check(cell) and ex in answers:
            probe = nbformat.v4.new_code_cell(probe_source(answers[ex], marker))
            probe.pop("id", None)
            probe.metadata["kms_course"] = {"role": "probe", "exercise": ex}
            if keep_checks:
                cells.append(cell)
            cells.append(probe)
        else:
            cells.append(cell)
    nb.cells = cells
    return nb


def decode_value(value):
    """Inverse of the probe's encoding for one value (untrusted input: plain data only).

    Raises:
        ValueError: a malformed value (wrong shape, bad base64, unhashable dict key).
    """
    import base64

    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    if isinstance(value, dict) and set(value) == {"__bytes__"}:
        return base64.b64decode(value["__bytes__"], validate=True)
    if isinstance(value, dict) and set(value) == {"__dict__"} and isinstance(value["__dict__"], list):
        out = {}
        for pair in value["__dict__"]:
            if not (isinstance(pair, list) and len(pair) == 2):
                raise ValueError("malformed dict item")
            key = decode_value(pair[0])
            if isinstance(key, (list, dict)):
                raise ValueError("unhashable dict key")
            out[key] = decode_value(pair[1])
        return out
    raise ValueError(f"unexpected value of type {type(value).__name__}")


def parse_probe_output(text: str, marker: str) -> dict:
    """The answers printed by a probe: name -> value; names that failed to encode are left out.

    Reads the last line starting with ``marker``; anything malformed gives ``{}`` or drops the
    one value (never raises).
    """
    payload = None
    for line in text.splitlines():
        if line.startswith(marker):
            payload = line[len(marker):]
    if payload is None:
        return {}
    try:
        raw = json.loads(payload)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(raw, dict):
        return {}
    values = {}
    for name, item in raw.items():
        if isinstance(item, dict) and "value" in item:
            try:
                values[name] = decode_value(item["value"])
            except (ValueError, TypeError, RecursionError):
                continue
    return values
