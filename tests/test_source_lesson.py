"""Every code block of the source lesson runs, in order, in a fresh kernel after the setup cell.

The source lesson lives in the course's shared folder (``../shared/course/source-lesson.md``
beside the repository). Its describe block uses ``key_id`` before the encrypt block defines it
(a known error of the source), so ``key_id`` is defined where it is first used.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT.parent / "shared" / "course" / "source-lesson.md"
SETUP = "from kms_course import start_sandbox\nkms = start_sandbox()"
DEFINE_KEY_ID = "key_id = kms_key_response['KeyMetadata']['KeyId']"


def source_blocks() -> list[str]:
    return re.findall(r"```[Pp]ython\n(.*?)```", SOURCE.read_text(), flags=re.S)


@pytest.mark.skipif(
    not SOURCE.exists() and not os.environ.get("CI"),
    reason=f"the source lesson is not beside this clone ({SOURCE})",
)
def test_source_lesson_code_runs_in_order():
    blocks = source_blocks()
    assert len(blocks) == 9  # create, describe, encrypt/decrypt, 3 data-key blocks, 2 rotation, deletion
    cells = [SETUP]
    for block in blocks:
        if "key_id" in block and "key_id =" not in block and DEFINE_KEY_ID not in "\n".join(cells):
            cells.append(DEFINE_KEY_ID)
        cells.append(block)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    printed = [
        out.get("text", "")
        for cell in nb.cells
        for out in cell.outputs
        if out.get("output_type") == "stream"
    ]
    assert printed[-1].strip() == "Key scheduled for deletion with a waiting period of 7 days."
    assert "Key Rotation Enabled: True" in "".join(printed)
