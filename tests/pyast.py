"""ast.parse for tests that read the project's sources.

CPython 3.11.7 can raise "SystemError: AST constructor recursion depth mismatch" when another thread converts an
AST at the same moment (python/cpython#106905, fixed in later 3.11 releases); the parse is pure, so it is retried.
"""

import ast
from pathlib import Path


def parse_file(path: Path) -> ast.Module:
    source = Path(path).read_text(encoding="utf-8")
    for _ in range(4):
        try:
            return ast.parse(source)
        except SystemError:
            continue
    return ast.parse(source)
