"""A real browser runs a lesson in ``kms-course lab``: check verdicts and widgets render and respond.

The test starts ``kms-course lab --no-browser --port P`` on 127.0.0.1 over a temporary folder
holding a copy of a lesson notebook (so the repository's notebooks are never modified), with the
course's widget cells added if the lesson lacks them. Debian's Chromium (``/usr/bin/chromium``,
package ``chromium``), driven by Playwright for Python (https://playwright.dev/python/docs/api/class-browsertype#browser-type-launch,
``executable_path``), opens it, runs all cells from JupyterLab's Run menu, and the test asserts
that every check cell printed its ``PASSED`` verdict, that the progress panel turned to PASSED
through the live widget, and that a key explorer button round-trips to the kernel. A screenshot is
saved under pytest's tmp dir and its path printed (``pytest -s`` shows it).

Skipped with the reason when Chromium or Playwright is missing. Never downloads a browser.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from kms_course.sandbox.server import free_port
from tests.conftest import NOTEBOOKS, ROOT, clean_env

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LESSON = "07_key_deletion"
TOKEN = "browser-test-token"
#: Seconds to wait for JupyterLab to answer, and for all cells to finish in the browser.
SERVER_TIMEOUT = 60
RUN_TIMEOUT_MS = 180_000


def with_widget_cells(notebook: nbformat.NotebookNode, lesson: str) -> nbformat.NotebookNode:
    """``notebook`` with a key explorer cell and a progress panel cell before its first exercise,
    unless it already has them (the cells the lesson itself should carry)."""
    sources = "\n".join(cell.source for cell in notebook.cells)
    first = next(
        i
        for i, cell in enumerate(notebook.cells)
        if cell.metadata.get("kms_course", {}).get("role") == "solution"
    )
    if first > 0 and notebook.cells[first - 1].cell_type == "markdown":
        first -= 1
    added = []
    if "KeyExplorer(" not in sources:
        added.append("from kms_course.lessons.widgets.key_explorer import KeyExplorer\n\nKeyExplorer(kms)")
    if "ProgressPanel(" not in sources:
        added.append(f'from kms_course.lessons.progress import ProgressPanel\n\nProgressPanel("{lesson}")')
    for offset, source in enumerate(added):
        notebook.cells.insert(first + offset, nbformat.v4.new_code_cell(source))
    return notebook


def write_lab_settings(folder: Path) -> None:
    """JupyterLab user settings for the test: render every cell (no virtual scrolling, so outputs
    below the fold are in the page) and no news/update toasts over the screenshot."""
    files = {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
    }
    for name, values in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def check_ids(notebook: nbformat.NotebookNode) -> list[str]:
    """Exercise ids of the notebook's check cells, in order."""
    return [
        cell.metadata["kms_course"]["exercise"]
        for cell in notebook.cells
        if cell.metadata.get("kms_course", {}).get("role") == "check"
    ]


@pytest.fixture
def lab(tmp_path):
    """``kms-course lab`` serving a temp folder; yields (base URL, notebook name, check ids)."""
    source = NOTEBOOKS / f"{LESSON}.ipynb"
    if not source.exists():
        pytest.skip(f"{source} does not exist yet")
    folder = tmp_path / "notebooks"
    folder.mkdir()
    notebook = with_widget_cells(nbformat.read(source, as_version=4), LESSON)
    nbformat.write(notebook, folder / source.name)
    home = tmp_path / "home"
    write_lab_settings(home / ".jupyter/lab/user-settings")
    port = free_port()
    kms_course = shutil.which("kms-course", path=str(Path(sys.executable).parent))
    command = [kms_course] if kms_course else [sys.executable, "-m", "kms_course.cli"]
    with open(tmp_path / "lab.log", "wb") as log:
        process = subprocess.Popen(
            [
                *command,
                "lab",
                "--no-browser",
                "--port",
                str(port),
                "--notebooks",
                str(folder),
                f"--IdentityProvider.token={TOKEN}",
            ],
            env=clean_env(HOME=str(home), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime")),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + SERVER_TIMEOUT
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2):
                        break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(
                            f"kms-course lab did not start; log:\n{(tmp_path / 'lab.log').read_text()}"
                        )
                    time.sleep(0.25)
            yield base, source.name, check_ids(notebook)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture
def page(tmp_path):
    """A Playwright page in Debian's headless Chromium."""
    if not CHROMIUM.exists():
        pytest.skip(
            "Debian's Chromium is not installed (/usr/bin/chromium missing): "
            "apt-get install -y chromium"
        )
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright is not installed: pip install -e '.[test]'"
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def test_lesson_runs_in_jupyterlab_with_verdicts_and_widgets(page, lab, tmp_path):
    try:
        run_lesson_and_assert(lab, page, tmp_path)
    except BaseException:
        failure = tmp_path / "failure.png"
        page.screenshot(path=str(failure), full_page=True)
        print(f"\nscreenshot at failure: {failure}")
        raise


def run_lesson_and_assert(lab, page, tmp_path) -> None:
    base, name, exercise_ids = lab
    assert exercise_ids, f"{name} has no check cells"
    page.goto(f"{base}/lab/tree/{name}?token={TOKEN}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=RUN_TIMEOUT_MS)
    # A fresh kernel is starting; run only once the status bar says it is connected and idle.
    page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\| Idle$")).first.wait_for(
        timeout=RUN_TIMEOUT_MS
    )

    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()

    outputs = page.locator(".jp-OutputArea-output")
    for exercise_id in exercise_ids:  # the text of Verdict.text() printed by each check cell
        outputs.filter(has_text=f"PASSED {exercise_id}:").first.wait_for(timeout=RUN_TIMEOUT_MS)
    assert outputs.filter(has_text="NOT YET").count() == 0

    # The progress panel was displayed before the checks ran: its live table updated by itself.
    progress = page.locator("table.kms-course-progress")
    progress.wait_for(timeout=RUN_TIMEOUT_MS)
    for exercise_id in exercise_ids:
        assert progress.locator("tr", has_text=exercise_id).inner_text().strip().endswith("PASSED")

    # The key explorer rendered as a widget, and a button click round-trips to the kernel.
    explorer = page.locator(".jupyter-widgets", has=page.locator("table.kms-course-keys")).first
    explorer.wait_for(timeout=RUN_TIMEOUT_MS)
    assert explorer.locator("table.kms-course-keys tr").count() >= 2  # header + at least one key
    explorer.locator("button", has_text="Disable").first.click()
    page.locator("span", has_text="disable_key()").first.wait_for(timeout=30_000)

    explorer.scroll_into_view_if_needed()
    screenshot = tmp_path / "jupyterlab-widgets.png"
    page.screenshot(path=str(screenshot))
    print(f"\nscreenshot: {screenshot}")
    assert screenshot.stat().st_size > 10_000
