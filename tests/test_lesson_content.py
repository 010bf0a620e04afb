"""Static checks of every lesson notebook (notebooks/*.ipynb): structure, exercises, and two
known errors of the source lesson that must never be taught.

Rules (the notebook conventions of the course, and the corrections listed in the source lesson's
header):

* The first code cell starts the sandbox (a call of ``start_sandbox``).
* Notebooks are stored with outputs cleared and ``execution_count`` null, kernel ``python3``,
  nbformat 4.5 with cell ids; every cell has a unique nbgrader ``grade_id``.
* Every exercise has one solution cell and one check cell, paired by
  ``metadata.kms_course.exercise``; the solution cell holds ``### BEGIN SOLUTION`` and
  ``### END SOLUTION``; the check cell's source is exactly ``check("<id>")`` and its nbgrader
  ``points`` is an int equal to the points of the check registered under that id for this lesson.
* ``GENERATE_KEY_PAIR`` is not a KeyUsage value (CreateKey API reference,
  https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html). A notebook may mention
  it only (a) in Markdown or a code comment, in a sentence that also contains a negation ("not",
  "n't", "invalid", "no longer"), or (b) as a string in code inside the body of a ``try`` whose
  ``except`` clauses name ``ValidationException``.
* AWS managed keys rotate every year, not every three years (key rotation guide,
  https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html). A sentence that speaks
  of AWS managed keys and a three-year period is allowed only with a negation ("not", "no
  longer", "used to", "instead of", "before", "formerly", "previously").
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import nbformat
import pytest

from kms_course.lessons.exercises import SOLUTION_BEGIN, SOLUTION_END, load_all

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_PATHS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
NOTEBOOK_IDS = [path.stem for path in NOTEBOOK_PATHS]

KEY_PAIR_TERM = "GENERATE_KEY_PAIR"
KEY_PAIR_NEGATION = re.compile(r"\bnot\b|n't\b|\binvalid\b|\bno longer\b", re.IGNORECASE)
THREE_YEARS = re.compile(r"\b(three|3)[\s-]*years?\b|\b36 months\b|\b1,?095 days\b", re.I)
AWS_MANAGED = re.compile(r"\bAWS[\s-]managed\b", re.IGNORECASE)
ROTATION_NEGATION = re.compile(
    r"\bnot\b|n't\b|\bno longer\b|\bused to\b|\binstead of\b|\bbefore\b|\bformerly\b|"
    r"\bpreviously\b",
    re.IGNORECASE,
)


# --- text rules (pure functions, tested below on small examples) ---------------------------------


def sentences(markdown: str) -> list[str]:
    """Split Markdown into sentences: at ``.``/``!``/``?`` + space, blank lines, list items and
    table cells; blockquote markers are dropped so a quoted sentence stays whole."""
    text = re.sub(r"(?m)^\s*>\s?", "", markdown)
    parts = re.split(r"(?<=[.!?])\s+|\n\s*\n|\n(?=\s*(?:[-*+]\s|\d+\.\s))|\|", text)
    return [part.strip() for part in parts if part and part.strip()]


def key_pair_sentences_without_negation(text: str) -> list[str]:
    """Sentences mentioning GENERATE_KEY_PAIR with no negation (each one presents it as valid)."""
    return [s for s in sentences(text) if KEY_PAIR_TERM in s and not KEY_PAIR_NEGATION.search(s)]


def three_year_rotation_sentences(text: str) -> list[str]:
    """Sentences that give AWS managed keys a three-year period, without a negation."""
    return [
        s
        for s in sentences(text)
        if THREE_YEARS.search(s) and AWS_MANAGED.search(s) and not ROTATION_NEGATION.search(s)
    ]


def code_comments(source: str) -> str:
    """The comments of a code cell, one per line (IPython magics are tolerated)."""
    lines = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                lines.append(token.string.lstrip("#").strip())
    except (tokenize.TokenError, IndentationError):
        pass
    return "\n\n".join(lines)


def _names_validation_exception(handler: ast.ExceptHandler) -> bool:
    return "ValidationException" in ast.unparse(handler)


def key_pair_strings_outside_expected_failure(source: str) -> list[int]:
    """Line numbers of string constants containing GENERATE_KEY_PAIR that are *not* inside the
    body of a ``try`` whose ``except`` clauses name ValidationException."""
    tree = ast.parse(source)
    allowed: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(map(_names_validation_exception, node.handlers)):
            for statement in node.body:
                allowed.update(id(inner) for inner in ast.walk(statement))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and KEY_PAIR_TERM in node.value
        and id(node) not in allowed
    ]


def code_source(cell) -> str:
    """A code cell's source with IPython magics and shell lines commented out, for ``ast``."""
    return "\n".join(
        "# " + line if line.lstrip().startswith(("%", "!")) else line
        for line in cell.source.splitlines()
    )


# --- the rules on small examples ------------------------------------------------------------------


def test_rule_flags_generate_key_pair_listed_as_a_value():
    assert key_pair_sentences_without_negation(
        "The values are:\n* `ENCRYPT_DECRYPT`: encrypt.\n* `GENERATE_KEY_PAIR`: key pairs."
    ) == ["* `GENERATE_KEY_PAIR`: key pairs."]
    assert key_pair_sentences_without_negation("| `GENERATE_KEY_PAIR` | makes key pairs |")


def test_rule_accepts_generate_key_pair_correction():
    text = (
        "> **Correction.** The source lists a fourth value, `GENERATE_KEY_PAIR`, but that\n"
        "> is not a key usage at all: KMS rejects it."
    )
    assert key_pair_sentences_without_negation(text) == []


def test_rule_flags_generate_key_pair_in_plain_code():
    assert key_pair_strings_outside_expected_failure(
        "kms.create_key(KeyUsage='GENERATE_KEY_PAIR')"
    ) == [1]


def test_rule_flags_generate_key_pair_under_a_catch_all():
    source = "try:\n    kms.create_key(KeyUsage='GENERATE_KEY_PAIR')\nexcept Exception:\n    pass"
    assert key_pair_strings_outside_expected_failure(source) == [2]


def test_rule_accepts_generate_key_pair_expected_to_fail():
    source = (
        "try:\n"
        "    kms.create_key(KeyUsage='GENERATE_KEY_PAIR')\n"
        "except kms.exceptions.ClientError as error:\n"
        "    if error.response['Error']['Code'] != 'ValidationException':\n"
        "        raise\n"
    )
    assert key_pair_strings_outside_expected_failure(source) == []


def test_rule_flags_three_year_rotation_of_aws_managed_keys():
    assert three_year_rotation_sentences(
        "AWS managed keys are rotated by AWS every three years. Customer keys rotate yearly."
    ) == ["AWS managed keys are rotated by AWS every three years."]
    assert three_year_rotation_sentences("AWS-managed keys rotate every 3 years automatically.")


def test_rule_accepts_three_year_correction():
    assert three_year_rotation_sentences(
        "AWS managed keys rotate every year, not every three years as the source says."
    ) == []
    assert three_year_rotation_sentences(
        "Before May 2022, AWS managed keys rotated every three years."
    ) == []


def test_there_are_lesson_notebooks():
    assert [path.name[:2] for path in NOTEBOOK_PATHS][:4] == ["01", "02", "03", "04"]


# --- every notebook -----------------------------------------------------------------------------


@pytest.fixture(params=NOTEBOOK_PATHS, ids=NOTEBOOK_IDS)
def notebook(request):
    path = request.param
    return path.stem, nbformat.read(path, as_version=nbformat.NO_CONVERT)


def test_notebook_format(notebook):
    stem, nb = notebook
    nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) >= (4, 5), f"{stem}: nbformat 4.5 with cell ids"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{stem}: outputs not cleared in {cell.source[:60]!r}"
            assert cell.execution_count is None, f"{stem}: execution_count set"


def test_every_cell_has_a_unique_grade_id(notebook):
    stem, nb = notebook
    grade_ids = [cell.metadata.get("nbgrader", {}).get("grade_id") for cell in nb.cells]
    assert None not in grade_ids, f"{stem}: a cell has no nbgrader grade_id"
    assert len(grade_ids) == len(set(grade_ids)), f"{stem}: duplicate nbgrader grade_id"


def test_first_code_cell_starts_the_sandbox(notebook):
    stem, nb = notebook
    first = next(cell for cell in nb.cells if cell.cell_type == "code")
    calls = [
        node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        for node in ast.walk(ast.parse(code_source(first)))
        if isinstance(node, ast.Call)
    ]
    assert "start_sandbox" in calls, f"{stem}: first code cell does not call start_sandbox()"


def test_first_cell_states_learning_objectives(notebook):
    stem, nb = notebook
    assert nb.cells[0].cell_type == "markdown"
    assert "Learning objectives" in nb.cells[0].source, f"{stem}: no learning objectives on top"


def _exercise_cells(nb):
    cells: dict[str, dict[str, tuple[int, object]]] = {}
    for index, cell in enumerate(nb.cells):
        info = cell.metadata.get("kms_course", {})
        if "exercise" in info:
            role = info.get("role")
            assert role in ("solution", "check"), f"unknown role {role!r}"
            slot = cells.setdefault(info["exercise"], {})
            assert role not in slot, f"{info['exercise']}: two {role} cells"
            slot[role] = (index, cell)
    return cells


def test_exercises_have_solution_and_check_cells(notebook):
    stem, nb = notebook
    exercises = _exercise_cells(nb)
    assert len(exercises) >= 3, f"{stem}: fewer than 3 practice exercises"
    registry = load_all()
    for exercise_id, roles in exercises.items():
        assert set(roles) == {"solution", "check"}, f"{exercise_id}: needs a solution and a check"
        assert exercise_id.startswith(stem[:2] + "-"), f"{exercise_id}: prefix {stem[:2]}-"
        assert re.fullmatch(r"[0-9]{2}-[a-z0-9]+(-[a-z0-9]+)*", exercise_id), exercise_id
        (sol_index, solution), (chk_index, check_cell) = roles["solution"], roles["check"]
        assert sol_index < chk_index, f"{exercise_id}: solution cell must come before its check"

        begin, end = solution.source.find(SOLUTION_BEGIN), solution.source.find(SOLUTION_END)
        assert 0 <= begin < end, f"{exercise_id}: solution cell lacks BEGIN/END SOLUTION markers"
        grader = solution.metadata["nbgrader"]
        assert grader["solution"] is True and grader["grade"] is False
        assert grader["grade_id"] == f"{exercise_id}-answer"

        assert check_cell.source.strip() == f'check("{exercise_id}")'
        grader = check_cell.metadata["nbgrader"]
        assert grader["grade"] is True and grader["solution"] is False and grader["locked"]
        assert grader["grade_id"] == exercise_id
        points = grader["points"]
        assert isinstance(points, int) and not isinstance(points, bool) and points > 0

        assert exercise_id in registry, f"{exercise_id}: no check registered in kms_course.lessons.checks"
        registered = registry[exercise_id]
        assert registered.lesson == stem, f"{exercise_id}: registered for {registered.lesson}"
        assert registered.points == points, (
            f"{exercise_id}: notebook gives {points} points, the check {registered.points}"
        )


def test_every_registered_exercise_is_in_its_notebook(notebook):
    stem, nb = notebook
    registered = {e.id for e in load_all().values() if e.lesson == stem}
    assert registered <= set(_exercise_cells(nb)), f"{stem}: registered but missing exercises"


def test_generate_key_pair_is_never_presented_as_valid(notebook):
    stem, nb = notebook
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            problems += [(index, s) for s in key_pair_sentences_without_negation(cell.source)]
        elif cell.cell_type == "code":
            source = code_source(cell)
            problems += [
                (index, s) for s in key_pair_sentences_without_negation(code_comments(source))
            ]
            problems += [
                (index, f"line {line}: string outside a try/except ValidationException")
                for line in key_pair_strings_outside_expected_failure(source)
            ]
    assert problems == [], f"{stem} presents GENERATE_KEY_PAIR as a key usage: {problems}"


def test_no_three_year_rotation_for_aws_managed_keys(notebook):
    stem, nb = notebook
    problems = []
    for index, cell in enumerate(nb.cells):
        text = cell.source if cell.cell_type == "markdown" else code_comments(code_source(cell))
        if cell.cell_type == "code":
            strings = [
                node.value
                for node in ast.walk(ast.parse(code_source(cell)))
                if isinstance(node, ast.Constant) and isinstance(node.value, str)
            ]
            text += "\n\n" + "\n\n".join(strings)
        problems += [(index, s) for s in three_year_rotation_sentences(text)]
    assert problems == [], f"{stem} states a three-year rotation of AWS managed keys: {problems}"


def test_markdown_links_have_real_targets(notebook):
    # A template placeholder such as [Base64]({RFC}) once reached a lesson: every link target
    # must be an http(s) URL or a relative path, never an unfilled {NAME}.
    stem, nb = notebook
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for text, target in re.findall(r"\[([^\]]+)\]\(([^)\s]*)\)", cell.source):
            assert "{" not in target and target, f"{stem}: link [{text}]({target}) has no real target"
            if target.startswith("https://docs.aws.amazon.com/"):
                assert target.rsplit("#", 1)[0].endswith((".html", "/")), (
                    f"{stem}: AWS documentation link without .html: {target}"
                )


def test_markdown_never_points_students_at_solution_markers(notebook):
    # Students get the released version, where the markers are gone (replaced by the stub).
    stem, nb = notebook
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            assert SOLUTION_BEGIN not in cell.source and SOLUTION_END not in cell.source, (
                f"{stem}: markdown mentions the solution markers students never see"
            )


# --- issue 12: the student's path and the AWS corrections -----------------------------------------


def _cells(stem: str):
    return nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4).cells


def _markdown(stem: str) -> str:
    return "\n\n".join(c.source for c in _cells(stem) if c.cell_type == "markdown")


def _cell(stem: str, grade_id: str):
    return next(c for c in _cells(stem) if c.metadata["nbgrader"]["grade_id"] == grade_id)


def test_every_lesson_states_its_estimated_time(notebook):
    stem, nb = notebook
    assert re.search(r"\*Estimated time: about \d+ minutes", nb.cells[0].source), stem


def test_every_lesson_ends_with_an_optional_challenge(notebook):
    # Open-ended, no check: a markdown cell just before the summary.
    stem, nb = notebook
    challenge = nb.cells[-2]
    assert challenge.cell_type == "markdown"
    assert challenge.source.startswith("## Optional challenge (open-ended, no check)"), stem


def test_every_lesson_has_an_exercise_where_the_student_decides(notebook):
    stem, nb = notebook
    titles = [c.source.splitlines()[0] for c in nb.cells
              if c.cell_type == "markdown" and c.source.startswith("### Exercise")]
    decide = re.compile(r"\byou (decide|choose|find|work out)\b|\bdecide\b", re.I)
    bodies = [c.source for c in nb.cells if c.cell_type == "markdown"
              and c.source.startswith("### Exercise")]
    assert any(decide.search(body) for body in bodies), (
        f"{stem}: no exercise asks the student to decide something: {titles}")


def test_lesson_03_only_symmetric_keys_generate_data_keys():
    # GenerateDataKey takes a symmetric encryption KMS key only:
    # https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html
    table = _cell("03_creating_and_describing_keys", "03-cell-07").source
    row = next(line for line in table.splitlines() if line.startswith("| `ENCRYPT_DECRYPT`"))
    assert "a symmetric key (`SYMMETRIC_DEFAULT`) also generates data keys, an RSA key does not" in row
    assert "Only a symmetric encryption key can generate data keys" in table
    assert "API_GenerateDataKey.html" in table


def test_lesson_03_says_which_operations_accept_an_alias():
    # https://docs.aws.amazon.com/kms/latest/developerguide/alias-using.html
    text = _markdown("03_creating_and_describing_keys")
    assert "Most calls" not in text and "wherever they accept a key ID" not in text
    alias = _cell("03_creating_and_describing_keys", "03-cell-17").source
    assert ("accepted in place of a key ID only by `DescribeKey`,\n`GetPublicKey` and the "
            "cryptographic operations") in alias
    assert "need the key ID or key ARN" in alias and "alias-using.html" in alias


def test_lesson_03_alias_demo_is_safe_to_rerun():
    from kms_course.sandbox.start import start_sandbox

    kms = start_sandbox(quiet=True)
    namespace = {"kms": kms, "key_id": kms.create_key()["KeyMetadata"]["KeyId"]}
    try:
        kms.delete_alias(AliasName="alias/lesson03-demo")
    except kms.exceptions.NotFoundException:
        pass
    code = _cell("03_creating_and_describing_keys", "03-cell-18").source
    exec(code, namespace)  # noqa: S102 (the lesson's own demo cell)
    exec(code, namespace)  # noqa: S102 (the second run must not fail)
    assert kms.describe_key(KeyId="alias/lesson03-demo")["KeyMetadata"]["KeyId"] == namespace["key_id"]


@pytest.mark.parametrize("stem,grade_id", [
    ("01_understanding_kms", "01-cell-08"), ("04_encrypting_and_decrypting", "04-cell-08")])
def test_the_4096_byte_limit_is_for_symmetric_keys(stem, grade_id):
    # https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html: 4096 bytes with a
    # symmetric key; RSA key specs take far less (e.g. 190 bytes for RSA_2048, RSAES_OAEP_SHA_256).
    text = " ".join(_cell(stem, grade_id).source.split())
    assert re.search(r"symmetric (encryption )?KMS key(\*\*)?, `Encrypt` accepts", text), stem
    assert "RSA" in text and "API_Encrypt.html" in text
    if stem.startswith("01"):
        assert "at most 190 bytes for `RSA_2048` with `RSAES_OAEP_SHA_256`" in text


def test_lessons_never_loop_over_list_keys_without_pagination(notebook):
    # ListKeys returns one page (100 keys by default): use the paginator.
    # https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeys.html
    stem, nb = notebook
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(code_source(cell))):
            if isinstance(node, ast.For) and "list_keys(" in ast.unparse(node.iter):
                pytest.fail(f"{stem}: loops over one page of list_keys: {ast.unparse(node.iter)}")
    if stem.startswith("01"):
        assert "get_paginator('list_keys')" in _cell(stem, "01-cell-16").source


def test_lesson_06_lists_only_completed_rotations():
    # ListKeyRotations: "information about all completed key material rotations";
    # RotateKeyOnDemand initiates the rotation, in progress shown by GetKeyRotationStatus.
    text = _cell("06_key_rotation", "06-cell-09").source
    assert "`RotateKeyOnDemand` only *starts* the rotation" in text
    assert "`ListKeyRotations` lists\n**completed** rotations only" in text
    assert "OnDemandRotationStartDate" in text and "API_ListKeyRotations.html" in text
    exercise = _cell("06_key_rotation", "06-cell-17").source
    assert "On AWS the rotation may need a moment to complete before it is listed." in exercise


def test_lesson_06_imported_key_material_rotates_on_demand():
    # https://docs.aws.amazon.com/kms/latest/APIReference/API_RotateKeyOnDemand.html (June 2025)
    text = _cell("06_key_rotation", "06-cell-13").source
    assert "but not imported key\nmaterial: since June 2025" in text
    assert "keys with imported\nkey material and keys in a custom key store do not rotate automatically" in text
    assert "rotating-keys-on-demand.html" in text
    for sentence in sentences(_markdown("06_key_rotation")):
        if "imported key material" in sentence and "on demand" in sentence.lower():
            assert "cannot" not in sentence, sentence


def test_lesson_07_names_the_documented_exceptions_to_irreversible_deletion():
    # https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-delete.html and
    # https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys-considerations.html
    text = _markdown("07_key_deletion")
    assert "unreadable forever" not in text
    assert "every ciphertext made\nunder it can never be decrypted again" not in text
    cell = _cell("07_key_deletion", "07-cell-18").source
    assert "- **Multi-Region keys.**" in cell and "multi-Region-keys-delete.html".lower() in cell.lower()
    assert "- **Imported key material.**" in cell and "importing-keys-considerations.html" in cell
    assert "the few documented exceptions come at the end of the lesson" in " ".join(_cell(
        "07_key_deletion", "07-cell-01").source.split())


def test_lessons_01_and_02_tell_the_data_key_story_once():
    # Lesson 02 explains data keys; lesson 01 points there in one paragraph.
    lesson01 = _cell("01_understanding_kms", "01-cell-05").source
    assert lesson01.startswith("## Data keys, in one sentence") and "lesson 02" in lesson01
    assert "returned twice" not in _markdown("01_understanding_kms")
    assert "`Encrypt` takes at most 4096 bytes" not in _markdown("02_kms_keys_vs_data_keys")
