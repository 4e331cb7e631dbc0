"""The CEL runtime from the `common-expression-language` package, without its command-line extras.

`import cel` runs the package's `__init__`, which also imports its interactive REPL (prompt_toolkit,
rich): about 0.25 s, an eighth of validate's budget on a large repository. We load only the compiled
extension, registered under its own name `cel.cel` so that a later `import cel` reuses this module
instead of initialising the extension a second time.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from types import ModuleType
from typing import Any


def _load_extension() -> ModuleType:
    if "cel.cel" in sys.modules:
        return sys.modules["cel.cel"]
    package = importlib.util.find_spec("cel")  # locates the package without executing it
    if package is None or not package.submodule_search_locations:
        raise ImportError("the common-expression-language package is not installed")
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        for folder in package.submodule_search_locations:
            spec = importlib.util.spec_from_file_location("cel.cel", f"{folder}/cel{suffix}")
            if spec is None or spec.loader is None:
                continue
            try:
                module = importlib.util.module_from_spec(spec)
            except (ImportError, FileNotFoundError):
                continue
            sys.modules["cel.cel"] = module
            spec.loader.exec_module(module)
            return module
    import cel  # an unusual layout: fall back to the package itself

    return cel


_cel = _load_extension()
Context: Any = _cel.Context
compile: Any = _cel.compile
OptionalValue: Any = _cel.OptionalValue
