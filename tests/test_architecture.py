"""The package's shape, checked from its source: layers import one way, no import cycles, no module reaches
into another's private names, and modules stay a readable size."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "posenet_cli"
# What each layer may not import. The core is the flat top level and `stream/`; `errors` and `files` sit below
# everything.
FORBIDDEN = {
    "base": ("core", "stream", "motion", "models", "media", "output", "jobs", "batch", "cli"),
    "core": ("media", "output", "jobs", "batch", "cli", "motion"),
    "stream": ("media", "output", "jobs", "batch", "cli", "motion"),
    "motion": ("models", "media", "output", "jobs", "batch", "cli"),
    "models": ("media", "output", "jobs", "batch", "cli", "core", "stream", "motion"),
    "media": ("models", "output", "jobs", "batch", "cli"),
    "output": ("models", "jobs", "batch", "cli"),
    "jobs": ("batch", "cli"),
    "batch": ("cli",),
}
MAX_LINES = 420  # longer modules state why at their top ("Longer than most modules on purpose")
# Heavy or optional libraries and the only modules that may import them (at any depth of the module): the
# TensorFlow-free path, `posenet --help` without a runtime, and the optional extras depend on it.
_MODELS = "posenet_cli.models."
LIBRARIES = {
    "tensorflow": {_MODELS + m for m in ("network", "graph_import", "savedmodel", "litert_convert", "environment")},
    "ai_edge_litert": {_MODELS + "litert_runner", _MODELS + "litert_convert"},
    "av": {"posenet_cli.media.encoders"},
    "ray": {"posenet_cli.batch.backends"},
    "pycocotools": {"posenet_cli.output.evaluate"},
    "scipy": {"posenet_cli.motion.filtering"}, "matplotlib": {"posenet_cli.output.plots"},
    "typer": "posenet_cli.cli.", "rich": "posenet_cli.cli.", "tqdm": "posenet_cli.cli.",
}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] == "__main__":
        return "package"
    if parts[1] in ("errors", "files"):
        return "base"
    return parts[1] if (PACKAGE / parts[1]).is_dir() else "core"


def import_target(node: ast.ImportFrom, package: str) -> str:
    """The module a `from ... import` reads, a relative one resolved against `package`."""
    if not node.level:
        return node.module or ""
    base = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) for every import in the file, relative imports resolved, function-level ones included."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            out.append((import_target(node, package), [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out.extend((a.name, []) for a in node.names)
    return out


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def edges() -> dict[str, set[str]]:
    """Module -> the package modules it imports (a name imported from a package counts as its submodule
    when one has that name; importing a submodule also runs its package's __init__)."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for target, names in imports(path):
            if not target.startswith("posenet_cli"):
                continue
            for name in names or [""]:
                sub = f"{target}.{name}"
                graph[module].add(sub if sub in MODULES else target)
    for module in list(graph):
        parent = module.rpartition(".")[0]
        if parent in MODULES:
            graph[module].add(parent)
    return graph


def test_layers_import_one_way():
    wrong = []
    for module, targets in edges().items():
        for target in targets:
            if layer(target) in FORBIDDEN.get(layer(module), ()):
                wrong.append(f"{module} imports {target}")
    assert not wrong


def test_no_import_cycles():
    graph = edges()
    for module in graph:  # a package's own __init__ is not an edge back into it
        graph[module] = {t for t in graph[module] if not module.startswith(t + ".")}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles


def test_no_private_names_cross_modules():
    private = [f"{module} imports {name} from {target}" for module, path in MODULES.items()
               for target, names in imports(path) if target.startswith("posenet_cli")
               for name in names if name.startswith("_") and not name.startswith("__")]
    assert not private


def test_heavy_and_optional_libraries_stay_where_they_belong():
    wrong = []
    for module, path in MODULES.items():
        for target, _ in imports(path):
            library = target.split(".")[0]
            allowed = LIBRARIES.get(library)
            if allowed is None:
                continue
            ok = module.startswith(allowed) if isinstance(allowed, str) else module in allowed
            if not ok:
                wrong.append(f"{module} imports {library}")
    assert not wrong


def test_modules_that_import_tensorflow_are_imported_lazily():
    """Modules importing TensorFlow at their top may only be imported inside functions elsewhere, so the
    TensorFlow-free path (LiteRT) never loads it by accident."""
    def imports_tensorflow(node: ast.stmt) -> bool:
        if isinstance(node, ast.Import):
            return any(a.name.split(".")[0] == "tensorflow" for a in node.names)
        return isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tensorflow"

    eager = {m for m, p in MODULES.items() if any(imports_tensorflow(n) for n in ast.parse(p.read_text()).body)}
    assert eager  # the check checks something: network, savedmodel, ... do import it at their top
    wrong = []
    for module, path in MODULES.items():
        if module in eager:  # importing TensorFlow itself, it may import its kin at its top
            continue
        tree = ast.parse(path.read_text())
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in top:
            if isinstance(node, ast.ImportFrom) and node.level:
                target = import_target(node, package)
                names = [f"{target}.{a.name}" for a in node.names] + [target]
            else:
                names = [getattr(node, "module", None) or "", *(a.name for a in node.names)]
            wrong += [f"{module} imports {n} at its top" for n in names if n in eager and n != module]
    assert not wrong


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_readable(module):
    text = MODULES[module].read_text()
    if len(text.splitlines()) > MAX_LINES:
        docstring = ast.get_docstring(ast.parse(text)) or ""
        assert "Longer than most modules on purpose" in docstring, module


MAX_FUNCTION_LINES = 60  # lines of code: not blank, not a comment, not the docstring


def function_lengths(path: Path) -> list[tuple[str, int]]:
    """(name, lines of code) of every function in the file, nested ones included (and counted in theirs)."""
    lines = path.read_text().splitlines()
    out = []
    for node in ast.walk(ast.parse("\n".join(lines))):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        skip: set[int] = set()
        first = node.body[0]
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            skip = set(range(first.lineno, (first.end_lineno or first.lineno) + 1))
        start = node.decorator_list[0].lineno if node.decorator_list else node.lineno
        code = [n for n in range(start, (node.end_lineno or node.lineno) + 1) if n not in skip
                and lines[n - 1].strip() and not lines[n - 1].strip().startswith("#")]
        out.append((node.name, len(code)))
    return out


def test_function_lengths_are_counted():
    assert ("function_lengths", 15) in function_lengths(Path(__file__))  # this very function, counted by hand


@pytest.mark.parametrize("module", sorted(MODULES))
def test_functions_stay_short(module):
    """No function in the package over MAX_FUNCTION_LINES: each command a thin adapter, and a longer step of
    the core is several named ones."""
    long = [f"{name}: {n} lines" for name, n in function_lengths(MODULES[module]) if n > MAX_FUNCTION_LINES]
    assert not long


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("posenet_cli.cli")))
def test_cli_has_no_untyped_escapes(module):
    """No `type: ignore` in cli/ (what an output needs, a folder's path say, is in the types of output.plan)."""
    assert "type: ignore" not in MODULES[module].read_text()


FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def flags_in_messages(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, flag) for each command-line flag named in a message: a string in a `raise`, or in a call to
    an error (`SomethingError(...)`, `write_error(...)`) or to a reporter's `note`, or an `error=` argument."""
    found: dict[int, list[tuple[int, str]]] = {}  # by the string's node, met once however deep
    for node in ast.walk(tree):
        callee = ""
        if isinstance(node, ast.Call):
            func = node.func
            callee = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        message_args: list[ast.AST] = []
        if isinstance(node, ast.Raise) and node.exc is not None:
            message_args = [node.exc]
        elif isinstance(node, ast.Call) and (callee.lower().endswith("error") or callee == "note"):
            message_args = [*node.args, *(k.value for k in node.keywords)]
        elif isinstance(node, ast.Call):
            message_args = [k.value for k in node.keywords if k.arg == "error"]
        for arg in message_args:
            for sub in ast.walk(arg):
                if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                    found[id(sub)] = [(sub.lineno, flag) for flag in FLAG.findall(sub.value)]
    return sorted(hit for hits in found.values() for hit in hits)


def test_the_flag_check_finds_flags():
    sample = ast.parse('raise ModelError("--int8 needs LiteRT")\nfailure = write_error(p, e, f"{x} --resume")\n'
                       'reporter.note(f"use --backend {b}")\nTaskResult(1, error="see --workers")\n'
                       'raise ModelError("`int8=True` needs LiteRT")\nsubprocess.run(["npm", "--silent"])\n')
    assert flags_in_messages(sample) == [(1, "--int8"), (2, "--resume"), (3, "--backend"), (4, "--workers")]


def test_library_messages_name_parameters_not_flags():
    """Outside cli/, messages say what a Python caller passed (`int8=True`); cli/errors.as_flags shows them as
    flags. A flag in a library message would be wrong for every caller but the CLI."""
    wrong = [f"{module}:{line} names {flag}" for module, path in MODULES.items()
             if not module.startswith("posenet_cli.cli")
             for line, flag in flags_in_messages(ast.parse(path.read_text()))]
    assert not wrong
