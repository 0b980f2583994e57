"""The images start: every console command and every module works over exactly the files each Dockerfile target
copies, with that image's packages; and every package the code imports is pinned in that image's lock file.

No Docker engine is needed. The file set comes from reading the Dockerfile (tests/dockerfile.py); the packages
come from the local virtualenv built from the same lock file (.venv from requirements/app.lock, .venv-rasa from
requirements/rasa.lock), and a test checks that each virtualenv holds exactly the pinned versions. The probe runs
with `python -S` and PYTHONPATH = the copied files + that virtualenv's site-packages, so neither the repository
(the editable install's path hook) nor anything outside the image's file set can satisfy an import.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.dockerfile import Dockerfile, materialize
from tests.pyast import parse_file

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
APP_VENV = Path(sys.prefix)  # the tests run in the app virtualenv
RASA_VENV = ROOT / ".venv-rasa"
# Modules that run inside Rasa's environment only (they import rasa, sklearn, scipy): the pipeline's components and
# the NLU worker the app starts with .venv-rasa's python. The app image has the files but never imports them.
RASA_SIDE = ("nlu.components", "nlu.worker", "nlu.category_model")

PROBE = r"""
import contextlib, importlib, io, json, sys, traceback
spec = json.loads(sys.argv[1])
failures = []
for entry, argv in spec["commands"]:
    module, _, func = entry.partition(":")
    sys.argv = list(argv)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            fn = getattr(importlib.import_module(module), func)
            code = fn()
    except SystemExit as exc:
        code = exc.code
    except BaseException:
        failures.append([" ".join(argv), traceback.format_exc(limit=3)])
        continue
    if code not in (0, None):
        failures.append([" ".join(argv), f"exit {code}: {out.getvalue()[-800:]}"])
for name in spec["imports"]:
    try:
        importlib.import_module(name)
    except BaseException:
        failures.append(["import " + name, traceback.format_exc(limit=3)])
outside = sorted({m.__name__.split(".")[0] for m in list(sys.modules.values())
                  if getattr(m, "__file__", None) and m.__file__.startswith(spec["repo"] + "/")
                  and not m.__file__.startswith(spec["site"] + "/")})
print(json.dumps({"failures": failures, "from_repo": outside}))
"""


def site_packages(venv: Path) -> Path:
    found = sorted((venv / "lib").glob("python3*/site-packages"))
    assert found, f"no site-packages under {venv}"
    return found[0]


def run_probe(venv: Path, files: Path, env: dict[str, str], commands: list, imports: list[str]) -> dict:
    spec = {"commands": commands, "imports": imports, "repo": str(ROOT), "site": str(site_packages(venv))}
    proc_env = {"PATH": "/usr/bin:/bin", "HOME": str(files), "PYTHONNOUSERSITE": "1", "LANG": "C.UTF-8",
                "MPLCONFIGDIR": str(files / ".mpl"),
                **{k: v for k, v in env.items() if k not in ("PATH", "PYTHONPATH", "HOME")},
                "PYTHONPATH": f"{files}{os.pathsep}{site_packages(venv)}"}
    proc = subprocess.run([str(venv / "bin" / "python"), "-S", "-c", PROBE, json.dumps(spec)], cwd=files,
                          env=proc_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def modules_in(files: Path) -> list[str]:
    """Every importable module of the packages laid out under `files` (directories with __init__.py)."""
    return list(module_paths(files))


def imported_modules(paths: list[Path]) -> list[str]:
    """Every module named by an absolute import (`from a.b import c` names a.b and a.b.c)."""
    out = []
    for path in paths:
        for node in ast.walk(parse_file(path)):
            if isinstance(node, ast.Import):
                out += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                out += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
    return out


def module_paths(files: Path) -> dict[str, Path]:
    out = {}
    for path in sorted(files.rglob("*.py")):
        rel = path.relative_to(files)
        if not all((files / Path(*rel.parts[:i]) / "__init__.py").exists() for i in range(1, len(rel.parts))):
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts:
            out[".".join(parts)] = path
    return out


# -- the lock files -------------------------------------------------------------------------------------------

def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[norm(name.split("[")[0])] = version.split(";")[0].strip()
    return pins


VENV_FACTS = r"""
import importlib.metadata as md, json
print(json.dumps({"versions": {d.metadata["Name"]: d.version for d in md.distributions()},
                  "modules": md.packages_distributions()}))
"""


def venv_facts(venv: Path) -> dict:
    proc = subprocess.run([str(venv / "bin" / "python"), "-c", VENV_FACTS], capture_output=True, text=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _optional(tree: ast.AST) -> set[int]:
    """ids of the import nodes inside `try: ... except ImportError` (an optional dependency)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError") for h in node.handlers):
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return out


def imported_names(paths: list[Path], *, optional: bool = True) -> dict[str, set[str]]:
    """{top-level module: {files importing it}} for every absolute import, lazy ones (inside functions) too;
    without the optional ones (`try: import x except ImportError`) when `optional` is False."""
    out: dict[str, set[str]] = {}
    for path in paths:
        tree = parse_file(path)
        skip = set() if optional else _optional(tree)
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for n in names:
                out.setdefault(n.split(".")[0], set()).add(path.name)
    return out


def unpinned_imports(paths: list[Path], own: set[str], facts: dict, pins: dict[str, str], *,
                     optional: bool = True) -> list[str]:
    problems = []
    for top, where in sorted(imported_names(paths, optional=optional).items()):
        if top in sys.stdlib_module_names or top in own or top == "__future__":
            continue
        dists = facts["modules"].get(top)
        if not dists:
            problems.append(f"{top} (imported by {sorted(where)}) is not installed")
        elif not any(norm(d) in pins for d in dists):
            problems.append(f"{top} (imported by {sorted(where)}) comes from {dists}, not pinned in the lock file")
    return problems


def check_venv_matches_lock(venv: Path, lock_file: Path) -> dict:
    facts = venv_facts(venv)
    installed = {norm(k): v for k, v in facts["versions"].items()}
    wrong = {name: (version, installed.get(name)) for name, version in lock(lock_file).items()
             if installed.get(name) != version}
    assert not wrong, f"{venv.name} differs from {lock_file.name} (pinned, installed): {wrong}"
    return facts


# -- the app image ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return Dockerfile.parse(DOCKERFILE)


@pytest.fixture(scope="module")
def app_files(dockerfile, tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("app-image")
    materialize(dockerfile.target("app"), dest)
    return dest


def compose_commands(target: str) -> dict[str, list[str]]:
    """{service: command} for the compose services built from this Dockerfile target."""
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    anchors = {}
    out = {}
    for name, svc in doc["services"].items():
        build = svc.get("build") or anchors.get(name)
        if isinstance(build, dict) and build.get("target") == target and svc.get("command"):
            out[name] = svc["command"]
    return out


def test_the_app_image_starts_every_command_and_imports_every_module(dockerfile, app_files):
    from citybot.cli import build_parser

    stage = dockerfile.target("app")
    assert stage.entrypoint == ["citybot"]
    subcommands = next(a for a in build_parser()._actions if a.dest == "command").choices
    commands = [["citybot.cli:main", ["citybot", "--help"]]]
    commands += [["citybot.cli:main", ["citybot", name, "--help"]] for name in subcommands]
    # what docker-compose.yml runs in this image parses too (a typo in a service's command fails here)
    services = compose_commands("app")
    assert {"hub", "actions", "bot", "notifier", "migrate"} <= set(services), services
    commands += [["citybot.cli:main", ["citybot", *cmd, "--help"]] for cmd in services.values()]
    imports = [m for m in modules_in(app_files) if not m.startswith(RASA_SIDE)]
    assert {"hub.app", "actions.actions", "bot.notifier", "hotline.ingest", "citybot.migrate"} <= set(imports)
    result = run_probe(APP_VENV, app_files, stage.env, commands, imports)
    assert result["failures"] == [], "\n\n".join(f"{what}:\n{why}" for what, why in result["failures"])
    assert result["from_repo"] == []


def test_the_app_image_packages_are_the_lock_file(app_files):
    facts = check_venv_matches_lock(APP_VENV, ROOT / "requirements" / "app.lock")
    own = {p.name for p in app_files.iterdir() if (p / "__init__.py").exists()}
    rasa_side = {m: p for m, p in module_paths(app_files).items() if m.startswith(RASA_SIDE)}
    app_side = [p for m, p in module_paths(app_files).items() if m not in rasa_side]
    # the app never imports what runs in Rasa's environment ...
    assert sorted(set(imported_modules(app_side)) & set(rasa_side)) == []
    # ... and everything else it imports is pinned (an optional import, `try: import zhconv`, may be absent)
    assert unpinned_imports(app_side, own, facts, lock(ROOT / "requirements" / "app.lock"), optional=False) == []


def test_a_missing_directory_fails_the_probe(dockerfile, tmp_path):
    """The check can fail: the app image without hotline/ (the bug this test was written for) does not start."""
    stage = dockerfile.target("app")
    materialize(stage, tmp_path)
    import shutil

    shutil.rmtree(tmp_path / "hotline")
    result = run_probe(APP_VENV, tmp_path, stage.env, [["citybot.cli:main", ["citybot", "hub", "--help"]]], [])
    assert result["failures"] and "No module named 'hotline'" in result["failures"][0][1]


# -- the Rasa image ---------------------------------------------------------------------------------------------

def pipeline_components() -> list[str]:
    config = yaml.safe_load((ROOT / "nlu" / "config.yml").read_text(encoding="utf-8"))
    return sorted({step["name"].rsplit(".", 1)[0] for step in config["pipeline"] if "." in step["name"]})


def own_closure(files: Path, start: list[str]) -> list[Path]:
    """The image's own modules that `start` imports, transitively (lazy imports too)."""
    seen: dict[str, Path] = {}
    todo = list(start)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        base = files / Path(*name.split("."))
        path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        if not path.exists():
            continue
        seen[name] = path
        parts = name.split(".")
        for i in range(1, len(parts)):
            todo.append(".".join(parts[:i]))
        for node in ast.walk(parse_file(path)):
            if isinstance(node, ast.ImportFrom) and not node.level and node.module:
                todo.append(node.module)
                todo += [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                todo += [a.name for a in node.names]
    return sorted(seen.values())


@pytest.fixture(scope="module")
def rasa_files(dockerfile, tmp_path_factory) -> Path:
    if not (RASA_VENV / "bin" / "python").exists():
        pytest.skip(f"no Rasa virtualenv at {RASA_VENV} (make rasa-venv)")
    dest = tmp_path_factory.mktemp("rasa-image")
    materialize(dockerfile.target("rasa"), dest)
    return dest


@pytest.mark.rasa
@pytest.mark.slow
def test_the_rasa_image_starts_rasa_and_loads_the_custom_components(dockerfile, rasa_files):
    stage = dockerfile.target("rasa")
    assert stage.entrypoint == ["rasa"] and stage.env.get("PYTHONPATH") == "/app"
    # every file the served command names is in the image
    for flag in ("--endpoints", "--credentials"):
        assert (rasa_files / stage.cmd[stage.cmd.index(flag) + 1]).is_file(), flag
    components = pipeline_components()
    assert components == ["nlu.components.category", "nlu.components.location", "nlu.components.normalizer",
                          "nlu.components.triage"]
    result = run_probe(RASA_VENV, rasa_files, stage.env, [["rasa.__main__:main", ["rasa", "--help"]],
                                                          ["rasa.__main__:main", ["rasa", *stage.cmd, "--help"]]],
                       [*components, "zhconv", "jieba", "spacy", "citybot.catalogue"])
    assert result["failures"] == [], "\n\n".join(f"{what}:\n{why}" for what, why in result["failures"])
    assert result["from_repo"] == []


@pytest.mark.rasa
def test_the_rasa_image_packages_are_the_lock_file_and_hold_what_the_components_import(rasa_files):
    facts = check_venv_matches_lock(RASA_VENV, ROOT / "requirements" / "rasa.lock")
    pins = lock(ROOT / "requirements" / "rasa.lock")
    assert "zhconv" in pins  # 繁→简 in the normaliser: the official rasa image lacks it
    paths = own_closure(rasa_files, pipeline_components())
    assert {p.relative_to(rasa_files).as_posix() for p in paths} >= {
        "citybot/catalogue.py", "nlu/text.py", "nlu/location.py", "nlu/category_model.py"}
    assert unpinned_imports(paths, {"nlu", "citybot"}, facts, pins) == []


def test_the_rasa_image_trains_from_the_committed_dictionary():
    """The image trains without the app environment, so the jieba dictionary it copies must be the one
    `citybot train` would generate from the catalogue."""
    from nlu import dictgen

    assert dictgen.DICT_FILE.read_text(encoding="utf-8") == dictgen.build()


# -- the ingestion image ----------------------------------------------------------------------------------------

@pytest.mark.rasa
@pytest.mark.slow
def test_the_ingest_image_runs_the_nlu_worker_in_rasas_environment(dockerfile, tmp_path):
    """`citybot ingest` starts its NLU worker as RASA_VENV/bin/python -m nlu.worker with the model under
    MODELS_DIR: the ingest target has the app's files, Rasa's environment at RASA_VENV and the model trained in
    it, and the worker imports over exactly those files with Rasa's packages."""
    if not (RASA_VENV / "bin" / "python").exists():
        pytest.skip(f"no Rasa virtualenv at {RASA_VENV} (make rasa-venv)")
    stage, app = dockerfile.target("ingest"), dockerfile.target("app")
    assert stage.files == app.files and stage.entrypoint == ["citybot"]
    assert stage.env["RASA_VENV"] == "/opt/rasa" and {"rasa-venv", "rasa-train"} <= set(stage.copied_from)
    materialize(stage, tmp_path)
    result = run_probe(APP_VENV, tmp_path, stage.env, [["citybot.cli:main", ["citybot", c, "--help"]]
                                                       for c in ("ingest", "classify", "eval")], [])
    assert result["failures"] == []
    result = run_probe(RASA_VENV, tmp_path, {**stage.env, "PYTHONPATH": "/app"}, [],
                       ["nlu.worker", "nlu.shape", "nlu.text", *pipeline_components()])
    assert result["failures"] == [], "\n\n".join(f"{what}:\n{why}" for what, why in result["failures"])
