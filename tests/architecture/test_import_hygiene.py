"""The layout's rules that import-linter does not state: no private name crosses a module, a
function-local import of the portal's own modules says why it is local, no upward edge is
excused, and the README's picture lists the apps in the order the contract enforces."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.pure

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
LAYERS_CONTRACT = next(c for c in CONTRACTS["contracts"] if c["type"] == "layers")
OURS = frozenset(CONTRACTS["root_packages"])


def _product_files() -> list[Path]:
    files = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if parts[0] in (".venv", "tests", "var", "node_modules") or "migrations" in parts:
            continue
        files.append(path)
    return files


def _ours(module: str | None) -> bool:
    return bool(module) and str(module).split(".")[0] in OURS


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_private_name_is_imported_across_modules():
    offenders = []
    for path in _product_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and _ours(node.module):
                offenders += [
                    f"{path.relative_to(ROOT)}:{node.lineno}: {node.module}.{alias.name}"
                    for alias in node.names
                    if _private(alias.name)
                ]
    assert offenders == []


def _local_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(function):
                if isinstance(node, ast.ImportFrom):
                    modules = [node.module]
                elif isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                else:
                    continue
                if any(_ours(module) for module in modules):
                    found.append(node)
    return found


def _says_why(lines: list[str], lineno: int) -> bool:
    """A comment on the import's line, or above the block of imports it belongs to."""
    if "#" in lines[lineno - 1]:
        return True
    index = lineno - 2
    while index >= 0:
        text = lines[index].strip()
        if text.startswith("#"):
            return True
        if not (text == "" or re.match(r"(from|import) \S|\)|[\w, ]+,?$", text)):
            return False
        index -= 1
    return False


def test_each_function_local_import_of_the_portal_says_why():
    silent = []
    for path in _product_files():
        source = path.read_text()
        lines = source.splitlines()
        for node in _local_imports(ast.parse(source, str(path))):
            if not _says_why(lines, node.lineno):
                silent.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert silent == []


def test_the_rule_finds_a_silent_local_import():
    """The check above can fail: an uncommented local import of ours is caught."""
    source = "def f():\n    x = 1\n    from approvals.models import AccessRequest\n"
    (node,) = _local_imports(ast.parse(source))
    assert not _says_why(source.splitlines(), node.lineno)
    commented = "def f():\n    # why\n    from approvals.models import AccessRequest\n"
    (node,) = _local_imports(ast.parse(commented))
    assert _says_why(commented.splitlines(), node.lineno)


def test_no_upward_import_is_excused():
    assert LAYERS_CONTRACT.get("ignore_imports", []) == []


def test_the_readme_picture_stacks_the_apps_as_the_contract_does():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Architecture") :]
    picture = section[section.index("```") + 3 : section.index("```", section.index("```") + 3)]
    # The stack: one app per line, in the picture's column, top to bottom.
    stacked = re.findall(r"^ {40,}([a-z]+)/ {2,}\S", picture, re.M)
    layers = list(LAYERS_CONTRACT["layers"])
    above = [app for app in layers if app not in stacked]
    assert stacked == [app for app in layers if app in stacked]
    assert set(above) == {"demo", "web"}  # drawn above the stack, each pointing into it
    for app in above:
        assert f"{app}/" in picture.split(stacked[0] + "/")[0]
