"""Profile one `mcp-gitops` command in-process with cProfile (the real entry point leaves with
os._exit, which would lose the profile).

    .venv/bin/python bench/profile_command.py OUT.prof -- validate REPO --rev HEAD --base HEAD~1

Prints the 40 most expensive functions by cumulative time; OUT.prof is for pstats/snakeviz.
"""

from __future__ import annotations

import contextlib
import cProfile
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    out, separator, *argv = sys.argv[1:]
    if separator != "--":
        raise SystemExit(__doc__)
    profiler = cProfile.Profile()
    profiler.enable()
    from reconciler.cli import cli

    with contextlib.suppress(SystemExit):
        cli.main(args=argv, prog_name="mcp-gitops", standalone_mode=False)
    profiler.disable()
    profiler.dump_stats(out)
    pstats.Stats(out, stream=sys.stderr).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
