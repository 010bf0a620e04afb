"""The package's layers: imports point downward only, and no old module path lives on but the few
that copies of the lessons and saved server states use (kms_course._moved).

From the bottom: the base modules (``errors``, ``atomic``, ``widget_text``, ``_moved``), the
sandbox (``kms_course.sandbox``), envelope encryption (``kms_course.envelope``), the student side
(``kms_course.lessons``), the package's short names (``kms_course/__init__.py``), the instructor
side (``kms_course.instructor``), the command line (``kms_course.cli``). A module may import from
its own layer and the layers below it. Imports inside functions count too; the few that must go
upward are listed in ALLOWED_UPWARD with the reason.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kms_course"

#: (layer name, module prefixes), bottom first. A module's layer is that of its longest prefix.
LAYERS = [
    ("base", ("kms_course.errors", "kms_course.atomic", "kms_course.widget_text",
              "kms_course._moved")),
    ("sandbox", ("kms_course.sandbox",)),
    ("envelope", ("kms_course.envelope",)),
    ("lessons", ("kms_course.lessons",)),
    ("short names", ("kms_course",)),
    ("instructor", ("kms_course.instructor",)),
    ("command line", ("kms_course.cli",)),
]

#: (importing module, imported module) -> why this upward import is right.
ALLOWED_UPWARD = {
    ("kms_course.sandbox.start", "kms_course.lessons.hints"):
        "start_sandbox() installs the lessons' short errors in an IPython kernel; the import is "
        "inside the function, so the sandbox alone (the server, the grader's) never loads them",
    ("kms_course.lessons.workspace", "kms_course.instructor.release"):
        "a student's workspace is the student version of the masters, which only the release "
        "builds; the import is inside sync(), which only `kms-course lab` runs",
}

#: Importing the root package for these names adds nothing: any ``import kms_course.x`` runs
#: ``kms_course/__init__.py`` first anyway.
ROOT_NAMES = {"__version__", "__file__"}


def _layer(module: str) -> int:
    """The index in LAYERS of ``module``'s layer; the root prefix is the root module only, so a
    module left beside the layers (``kms_course.something``) has none."""
    best, rank = "", -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            below = module.startswith(prefix + ".") and prefix != "kms_course"
            if (module == prefix or below) and len(prefix) > len(best):
                best, rank = prefix, i
    assert rank >= 0, (f"{module} belongs to no layer: put it in sandbox/, envelope/, lessons/ "
                       "or instructor/ (or list it as a base module in tests/test_layout.py)")
    return rank


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "__pycache__" in path.parts or "jupyter_config" in path.parts:
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(module: str, path: Path, modules: dict[str, Path]) -> list[tuple[int, str, str]]:
    """(line, imported module, how it reads) for every course import of ``module``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("kms_course"):
                    out.append((node.lineno, alias.name, f"import {alias.name}"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if not source.startswith("kms_course"):
                continue
            names = [a.name for a in node.names]
            text = f"from {'.' * node.level}{node.module or ''} import {', '.join(names)}"
            if source == "kms_course" and set(names) <= ROOT_NAMES:
                continue
            for name in names:  # ``from kms_course.x import y``: y may be a module of x
                target = f"{source}.{name}"
                out.append((node.lineno, target if target in modules else source, text))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and node.args[0].value.startswith("kms_course")):
            out.append((node.lineno, node.args[0].value, f"import_module({node.args[0].value!r})"))
    return out


MODULES = _modules()


def _resolve(name: str, modules: dict[str, Path]) -> str:
    """The module an imported name belongs to: itself, or the nearest module above it."""
    while name not in modules and "." in name:
        name = name.rpartition(".")[0]
    return name


def upward_imports(modules: dict[str, Path] = MODULES) -> list[str]:
    """One line for each upward import of ``modules`` (name -> file) not in ALLOWED_UPWARD."""
    problems = []
    for module, path in modules.items():
        mine = _layer(module)
        for line, imported, text in _imports(module, path, modules):
            target = _resolve(imported, modules)
            if target == "kms_course" and module != "kms_course":
                theirs = _layer("kms_course")
            else:
                theirs = _layer(target)
            if theirs <= mine or (module, target) in ALLOWED_UPWARD:
                continue
            inside = path.is_relative_to(PACKAGE.parent)
            rel = path.relative_to(PACKAGE.parent) if inside else path.name
            problems.append(
                f"{module} ({rel}:{line}, layer {LAYERS[mine][0]}) imports {target} "
                f"(layer {LAYERS[theirs][0]}): `{text}`"
            )
    return problems


def test_imports_point_downward_only():
    problems = upward_imports()
    assert not problems, "upward imports:\n  " + "\n  ".join(problems)


def test_every_module_has_a_layer():
    for module in MODULES:
        _layer(module)


def test_allowed_upward_imports_still_exist():
    """A stale entry would let a real upward import through unnoticed later."""
    seen = {(m, _resolve(i, MODULES)) for m, p in MODULES.items()
            for _, i, _ in _imports(m, p, MODULES)}
    assert set(ALLOWED_UPWARD) <= seen, set(ALLOWED_UPWARD) - seen


def test_the_checker_reports_module_and_import(tmp_path):
    """An upward import, lazy too, is named with its module, file, line and the import."""
    (tmp_path / "fake.py").write_text("def f():\n    from kms_course.instructor import grade\n")
    fake = {"kms_course.sandbox.fake": tmp_path / "fake.py", **MODULES}
    problems = [p for p in upward_imports(fake) if p.startswith("kms_course.sandbox.fake ")]
    assert problems == [
        "kms_course.sandbox.fake (fake.py:2, layer sandbox) imports kms_course.instructor.grade "
        "(layer instructor): `from kms_course.instructor import grade`"
    ]


@pytest.mark.parametrize("old", sorted(importlib.import_module("kms_course._moved").MOVED))
def test_old_names_the_lessons_use_are_the_new_modules(old):
    from kms_course import _moved

    assert importlib.import_module(old) is importlib.import_module(_moved.MOVED[old])


def test_an_old_package_brings_its_submodules():
    import kms_course.access.grants as old
    import kms_course.sandbox.access.grants as new

    assert old is new


@pytest.mark.parametrize("old", ["kms_course.rules", "kms_course.server_cli", "kms_course.grade",
                                 "kms_course.grading", "kms_course.transforms",
                                 "kms_course.exercises", "kms_course.sdk_frames"])
def test_no_other_old_path_lives_on(old):
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(old)


def test_every_verb_names_an_existing_module():
    from kms_course import cli

    for verb, (module, _) in cli.COMMANDS.items():
        assert module in MODULES, (verb, module)


def test_a_saved_server_state_finds_what_it_names_by_the_old_paths():
    """server-state.pickle files written before the layout name kms_course.server's functions
    and kms_course.access's classes (pickle's GLOBAL opcode: module, then name)."""
    import pickle

    from kms_course.sandbox import server
    from kms_course.sandbox.access import grants

    assert pickle.loads(b"ckms_course.server\n_lazy_key\n.") is server._lazy_key
    assert pickle.loads(b"ckms_course.access.grants\nGrant\n.") is grants.Grant
