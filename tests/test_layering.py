"""The package's layers, checked on the source: the folders are the layers, modelling code is TensorFlow-free, and
nothing imports upward.

The package root holds ``__init__.py`` (the public API) and folders only; the folder -> layer table is ``LAYERS`` below
(docs/ARCHITECTURE.md lists the same, and a test compares the two). The module list is derived from the package's
files, so a new module is checked without being listed anywhere; a new folder must be placed in the table. Imports are
read with the AST, every one of them (inside functions too, and ``importlib.import_module("...")``).
"""

import ast
import re
import sys
from pathlib import Path

import pytest

import keras_resnet

PACKAGE = Path(keras_resnet.__file__).parent
ARCHITECTURE_DOC = PACKAGE.parent / "docs" / "ARCHITECTURE.md"

# The layers, lowest first: a module may import from its own layer and the layers below, never from one above.
LAYER_ORDER = ("support", "modelling", "data", "training", "tasks", "cli")
# The folders of each layer.
LAYERS = {
    "support": ["support"],
    "modelling": ["models", "speech", "weights", "applications"],
    "data": ["data"],
    "training": ["training"],
    "tasks": ["inference", "export", "analysis"],
    "cli": ["cli"],  # the console command: the dispatcher and one module per sub-command
}
# Layers that must not import TensorFlow (nor a package that imports it); "support" is standard library only, plus
# SUPPORT_PACKAGES.
TENSORFLOW_FREE = ("support", "modelling")
# filelock: the run-folder lock must hold on every platform (the standard library's fcntl is POSIX only).
SUPPORT_PACKAGES = {"filelock"}
TENSORFLOW = {"tensorflow", "tensorflow_datasets", "tensorboard", "keras_tuner", "tf_keras"}
# The longest a module may grow before it is split by concept.
MAX_LINES = 400


def package_modules():
    """Every module of the package, by dotted name (``keras_resnet.data.augment``), from the files on disk."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


MODULES = package_modules()


def layer_of(module):
    """The layer of a dotted module name: its folder's entry (``modelling`` for ``keras_resnet`` itself, the public
    modelling API); ``None`` for a folder missing from ``LAYERS``."""
    parts = module.split(".")
    if len(parts) == 1:
        return "modelling"
    for layer, folders in LAYERS.items():
        if parts[1] in folders:
            return layer
    return None


def imported_modules(module, source=None):
    """Absolute names of every module ``module`` imports, anywhere in its source (package imports resolved to the
    submodule they name: ``from keras_resnet import data`` -> ``keras_resnet.data``)."""
    path = MODULES.get(module, PACKAGE / "probe.py")
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(source if source is not None else path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES)
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Name) and node.func.id in ("__import__", "import_module"))
                   or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module"))):
            names.add(node.args[0].value)
    return names


def test_the_root_holds_the_public_api_and_folders_only():
    loose = sorted(path.name for path in PACKAGE.iterdir()
                   if path.suffix == ".py" and path.name != "__init__.py")
    assert not loose, f"Modules in the package root: {loose}: each belongs in the folder of its layer"


def test_every_folder_is_found_and_placed():
    assert {"keras_resnet", "keras_resnet.applications.builder", "keras_resnet.data.augment",
            "keras_resnet.cli"} <= set(MODULES)
    placed = {name for names in LAYERS.values() for name in names}
    on_disk = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()}
    assert placed <= on_disk, f"LAYERS names folders that no longer exist: {sorted(placed - on_disk)}"
    unplaced = sorted({module.split(".")[1] for module in MODULES if layer_of(module) is None})
    assert not unplaced, f"Folders without a layer: {unplaced}: add them to LAYERS and docs/ARCHITECTURE.md"
    assert list(LAYERS) == [layer for layer in LAYER_ORDER if layer in LAYERS]


@pytest.mark.parametrize("module", list(MODULES))
def test_no_module_is_over_the_size_of_one_concept(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines (at most {MAX_LINES}): split it by concept"


@pytest.mark.parametrize("module", [m for m in MODULES if layer_of(m) in TENSORFLOW_FREE])
def test_modelling_modules_import_no_tensorflow(module):
    """Modelling code is backend-agnostic Keras 3: no TensorFlow, directly or through a package built on it."""
    roots = {name.split(".")[0] for name in imported_modules(module)}
    assert not roots & TENSORFLOW, f"{module} imports {sorted(roots & TENSORFLOW)}"
    if layer_of(module) == "support":
        foreign = sorted(roots - set(sys.stdlib_module_names) - {"keras_resnet"} - SUPPORT_PACKAGES)
        assert not foreign, (f"{module} is a support module (standard library and {sorted(SUPPORT_PACKAGES)} only) "
                             f"but imports {foreign}")


@pytest.mark.parametrize("module", list(MODULES))
def test_no_module_imports_a_higher_layer(module):
    assert layer_of(module), f"{module} is in a subpackage without a layer"
    rank = LAYER_ORDER.index(layer_of(module))
    upward = sorted(name for name in imported_modules(module)
                    if name.split(".")[0] == "keras_resnet" and name in MODULES
                    and LAYER_ORDER.index(layer_of(name) or LAYER_ORDER[-1]) > rank)
    assert not upward, f"{module} ({layer_of(module)}) imports from a higher layer: " + ", ".join(
        f"{name} ({layer_of(name)})" for name in upward)


def test_the_checks_see_upward_and_tensorflow_imports():
    """The AST reading catches what the rules forbid, wherever it sits: a function-local import, a relative one, a
    string import."""
    def names(source):
        return imported_modules("keras_resnet.probe", source)

    assert "keras_resnet.cli" in names("def f():\n    from keras_resnet.cli import format_table\n")
    assert "keras_resnet.cli" in names("from . import cli\n")
    assert "tensorflow" in names("import importlib\ndef f():\n    return importlib.import_module('tensorflow')\n")
    assert "tensorflow.io" in names("def f():\n    import tensorflow.io\n")
    assert layer_of("keras_resnet.export.tflite") == "tasks" and layer_of("keras_resnet.models.blocks") == "modelling"
    assert layer_of("keras_resnet.some_new_folder.module") is None  # a new folder must be placed


def _documented_rows():
    """The rows of docs/ARCHITECTURE.md's ``| layer | folders | what it may use |`` table, by layer."""
    rows = {}
    for line in ARCHITECTURE_DOC.read_text().splitlines():
        match = re.fullmatch(r"\|\s*`?(\w+)`?\s*\|\s*([^|]*)\|\s*([^|]*)\|.*", line.strip())
        if match and match[1] in LAYER_ORDER:
            rows[match[1]] = (match[2], match[3])
    return rows


def _documented_layers():
    """The ``| layer | folders |`` table of docs/ARCHITECTURE.md as {layer: [folder, ...]}."""
    return {layer: sorted(re.findall(r"`([\w/.]+?)(?:\.py|/)?`", modules))
            for layer, (modules, _) in _documented_rows().items()}


def test_architecture_doc_names_the_packages_support_may_use():
    uses = _documented_rows()["support"][1]
    assert sorted(re.findall(r"`([\w-]+)`", uses)) == sorted(SUPPORT_PACKAGES), (
        f"docs/ARCHITECTURE.md: the support layer may use the standard library and {sorted(SUPPORT_PACKAGES)}")


def test_architecture_doc_lists_the_same_layers():
    documented = _documented_layers()
    assert list(documented) == list(LAYER_ORDER), "docs/ARCHITECTURE.md: the layer table lists the layers in order"
    for layer, names in LAYERS.items():
        assert documented[layer] == sorted(names), f"docs/ARCHITECTURE.md: the folders of layer {layer!r}"


def import_graph():
    """``{module: [package modules it imports]}``, every import of its source counted (inside functions too).

    A module's own packages are left out: Python runs a package's ``__init__`` before any of its modules, so
    ``from keras_resnet.training import callbacks`` in ``keras_resnet.training.trainer`` is no edge back to the
    package."""
    graph = {}
    for module in MODULES:
        parts = module.split(".")
        ancestors = {".".join(parts[:end]) for end in range(1, len(parts))}
        graph[module] = sorted(name for name in imported_modules(module)
                               if name in MODULES and name != module and name not in ancestors)
    return graph


def import_cycles(graph):
    """Cycles of ``graph`` as lists ``[a, b, ..., a]``: at least one through every group of modules that import
    each other, found by a depth-first search (a back edge closes a cycle)."""
    cycles, state = [], {}
    for start in sorted(graph):
        if start in state:
            continue
        path, stack = [start], [iter(graph[start])]
        state[start] = "open"
        while stack:
            following = next(stack[-1], None)
            if following is None:
                state[path.pop()] = "done"
                stack.pop()
            elif state.get(following) == "open":
                cycles.append(path[path.index(following):] + [following])
            elif following not in state:
                state[following] = "open"
                path.append(following)
                stack.append(iter(graph.get(following, ())))
    return cycles


def test_no_import_cycle():
    """No two modules import each other, directly or around a loop, not even inside functions: a function-local
    import that hides a cycle means the shared piece belongs in a lower module."""
    cycles = import_cycles(import_graph())
    assert not cycles, "Import cycles: " + "; ".join(" -> ".join(cycle) for cycle in cycles)


def test_the_cycle_check_finds_cycles_through_function_local_imports():
    graph = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": [], "e": ["e2"], "e2": ["e"]}
    assert import_cycles(graph) == [["a", "b", "c", "a"], ["e", "e2", "e"]]
    assert import_cycles({"a": ["b", "c"], "b": ["c"], "c": []}) == []  # a diamond is no cycle
    local = imported_modules("keras_resnet.probe", "def f():\n    from keras_resnet.weights import records as r\n")
    assert "keras_resnet.weights.records" in local
