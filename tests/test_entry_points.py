"""The console scripts of pyproject.toml run the functions that ``python -m ...`` runs."""

import ast
import importlib
import importlib.util
import tomllib
from pathlib import Path

import pytest

SCRIPTS = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]["scripts"]
# script -> what `python -m` runs for it
MODULES = {
    "xling-preprocess": "preprocess.run",
    "xling-launch": "slurm.launch",
    "xling-transfer": "fairseq_ext.transfer",
    "xling-analysis": "fairseq_ext.analysis",
    "xling-export-hf": "fairseq_ext.export_hf",
    "xling-demo": "fairseq_ext.demo",
}


def target(script):
    module, _, name = SCRIPTS[script].partition(":")
    return module, name


def test_every_command_has_a_script():
    assert set(SCRIPTS) == set(MODULES)


@pytest.mark.parametrize("script", sorted(MODULES))
def test_the_script_is_the_function_python_m_runs(script):
    module, name = target(script)
    function = getattr(importlib.import_module(module), name)
    assert callable(function)
    # the file `python -m` executes, read rather than run (the demo's __main__ starts the demo)
    spec = importlib.util.find_spec(MODULES[script])
    path = Path(spec.origin)
    if spec.submodule_search_locations is not None:  # a package: its __main__.py
        path = path.with_name("__main__.py")
    tree = ast.parse(path.read_text())
    defines = module == MODULES[script] or module == MODULES[script] + ".__main__"
    if defines:
        assert any(isinstance(node, ast.FunctionDef) and node.name == name for node in tree.body)
    else:
        assert any(
            isinstance(node, ast.ImportFrom) and node.module == module and name in {a.name for a in node.names}
            for node in tree.body
        ), f"{path} does not run {module}.{name}"
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and getattr(node.func, "id", None) == name]
    assert calls, f"{path} never calls {name}()"


def test_help_exits_0_through_the_function(capsys):
    module, name = target("xling-transfer")
    main = getattr(importlib.import_module(module), name)
    with pytest.raises(SystemExit) as exit:
        main(["--help"])
    assert exit.value.code == 0
    assert "finetune" in capsys.readouterr().out


@pytest.mark.parametrize("script", ["xling-preprocess", "xling-launch", "xling-transfer", "xling-analysis"])
def test_the_long_running_commands_take_v_for_debug(script, capsys):
    module, name = target(script)
    with pytest.raises(SystemExit) as exit:
        getattr(importlib.import_module(module), name)(["--help"])
    assert exit.value.code == 0 and "-v, --verbose" in capsys.readouterr().out


def test_logging_is_the_commands_level_and_debug_with_v():
    import logging

    from xling import logs

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        logs.configure(False)
        assert logging.getLogger().level == logging.INFO
        logs.configure(False, logging.WARNING)
        assert logging.getLogger().level == logging.WARNING
        logs.configure(True, logging.WARNING)
        assert logging.getLogger().level == logging.DEBUG
    finally:  # pytest's own capture handlers back, as they were
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
