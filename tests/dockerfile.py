"""What a Dockerfile's targets contain, without a Docker engine: the stages, their COPY instructions from the build
context (honouring .dockerignore) and from other stages, WORKDIR, ENV, ENTRYPOINT and CMD.

`Dockerfile.parse(path).target(name).files` maps each file's path in the image to its path in the build context;
`materialize(target, dest)` lays the application directory (WORKDIR) out under `dest`. Files made by RUN (a
virtualenv, a trained model) are not in the context and are not laid out; the tests stand them in from the
equivalent local ones (.venv, .venv-rasa) and check that those match the lock files.
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Stage:
    name: str
    base: str  # an image reference or an earlier stage's name
    workdir: str = "/"
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)  # image path -> build-context file
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    copied_from: list[str] = field(default_factory=list)  # stages this one copies from (COPY --from)


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out, buf = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def _words(args: str) -> list[str]:
    """Exec form (JSON array) or shell form."""
    if args.startswith("["):
        return json.loads(args)
    return shlex.split(args)


class Dockerfile:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.context = self.path.parent
        self.ignore = self._ignore_patterns()
        self.stages: dict[str, Stage] = {}
        self.order: list[str] = []
        self._parse(self.path.read_text(encoding="utf-8"))

    @classmethod
    def parse(cls, path: Path) -> Dockerfile:
        return cls(path)

    def _ignore_patterns(self) -> list[str]:
        f = self.context / ".dockerignore"
        if not f.exists():
            return []
        return [ln.strip().rstrip("/") for ln in f.read_text(encoding="utf-8").splitlines()
                if ln.strip() and not ln.strip().startswith("#")]

    def ignored(self, rel: str) -> bool:
        """Docker's rule, as far as this project's .dockerignore needs: a pattern matches the path or one of its
        leading directories; `**/x` matches x at any depth."""
        parts = rel.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        for pattern in self.ignore:
            if pattern.startswith("**/"):
                if any(fnmatch.fnmatch(p, pattern[3:]) for p in parts):
                    return True
            elif any(fnmatch.fnmatch(p, pattern) for p in prefixes):
                return True
        return False

    def _context_files(self, src: str) -> list[tuple[str, Path]]:
        """(path relative to `src`, file) for a COPY source; an unknown source is an error, as for docker build."""
        path = self.context / src
        if not path.exists():
            raise FileNotFoundError(f"COPY source {src!r} is not in the build context")
        if path.is_file():
            return [] if self.ignored(src) else [(path.name, path)]
        out = []
        for f in sorted(path.rglob("*")):
            rel = f.relative_to(self.context).as_posix()
            if f.is_file() and not self.ignored(rel):
                out.append((f.relative_to(path).as_posix(), f))
        return out

    def _parse(self, text: str) -> None:
        args_defaults: dict[str, str] = {}
        stage: Stage | None = None
        for word, rest in _instructions(text):
            if word == "ARG" and stage is None:
                name, _, default = rest.partition("=")
                args_defaults[name.strip()] = default.strip()
            elif word == "FROM":
                parts = rest.split()
                base = parts[0]
                for name, value in args_defaults.items():
                    base = base.replace("${" + name + "}", value).replace("$" + name, value)
                name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else f"stage{len(self.order)}"
                stage = Stage(name=name, base=base)
                parent = self.stages.get(base)
                if parent is not None:
                    stage.workdir, stage.env = parent.workdir, dict(parent.env)
                    stage.files = dict(parent.files)
                    stage.entrypoint, stage.cmd = list(parent.entrypoint), list(parent.cmd)
                    stage.copied_from = list(parent.copied_from)
                self.stages[name] = stage
                self.order.append(name)
            elif stage is None:
                continue
            elif word == "WORKDIR":
                stage.workdir = posixpath.join(stage.workdir, rest)
            elif word == "ENV":
                tokens = shlex.split(rest)
                if len(tokens) == 2 and "=" not in tokens[0]:
                    stage.env[tokens[0]] = tokens[1]
                else:
                    for tok in tokens:
                        k, _, v = tok.partition("=")
                        stage.env[k] = v
            elif word in ("ENTRYPOINT", "CMD"):
                setattr(stage, word.lower(), _words(rest))
            elif word in ("COPY", "ADD"):
                self._copy(stage, rest)

    def _copy(self, stage: Stage, rest: str) -> None:
        tokens = _words(rest) if rest.startswith("[") else shlex.split(rest)
        flags = [t for t in tokens if t.startswith("--")]
        paths = [t for t in tokens if not t.startswith("--")]
        *sources, dest = paths
        base_dest = posixpath.join(stage.workdir, dest)
        source_stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
        many = len(sources) > 1 or dest.endswith("/")
        for src in sources:
            if source_stage is not None:
                stage.copied_from.append(source_stage)
                other = self.stages[source_stage]
                src_abs = posixpath.join(other.workdir, src)
                for image_path, f in other.files.items():
                    if image_path == src_abs or image_path.startswith(src_abs.rstrip("/") + "/"):
                        rel = posixpath.relpath(image_path, src_abs)
                        stage.files[posixpath.normpath(posixpath.join(base_dest, rel))] = f
                continue
            for rel, f in self._context_files(src):
                if (self.context / src).is_file():
                    target = posixpath.join(base_dest, rel) if many else base_dest
                else:
                    target = posixpath.join(base_dest, rel)
                stage.files[posixpath.normpath(target)] = f

    def target(self, name: str | None = None) -> Stage:
        return self.stages[name or self.order[-1]]


def materialize(stage: Stage, dest: Path) -> list[str]:
    """Copy the files the stage has under its WORKDIR to `dest` (same relative layout); returns the relative paths."""
    root = stage.workdir.rstrip("/") + "/"
    out = []
    for image_path, f in sorted(stage.files.items()):
        if not image_path.startswith(root):
            continue
        rel = image_path[len(root):]
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target)
        out.append(rel)
    return out
