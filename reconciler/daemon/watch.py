"""Local change notification: a thread that turns file-system events under some folders into a
reconcile request (watchfiles, inotify on Linux). For a folder that is the working tree; for a local bare
repository it is its refs, which change when someone pushes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from reconciler.daemon.logs import fields

log = logging.getLogger(__name__)

# Changes settle for this long before a reconcile is requested: one `git push` or editor save writes
# several files in a burst.
DEBOUNCE_MS = 150


def _interesting(path: str) -> bool:
    # A bare repository's objects change before its refs do; only the ref update means "new revision".
    parts = Path(path).parts
    return not ("objects" in parts and "refs" not in parts) and not path.endswith(".lock")


class Watcher:
    def __init__(self, paths: list[Path], on_change: Callable[[str], None], stop: threading.Event) -> None:
        self.paths = [p for p in paths if p.is_dir()]
        self.on_change = on_change
        self.stop = stop
        self.thread = threading.Thread(target=self._run, name="watch", daemon=True)

    def start(self) -> None:
        if self.paths:
            self.thread.start()

    def _run(self) -> None:
        from watchfiles import watch

        log.info("watching for local changes", extra=fields(paths=[str(p) for p in self.paths]))
        try:
            for changes in watch(
                *self.paths,
                stop_event=self.stop,
                debounce=DEBOUNCE_MS,
                step=50,
                watch_filter=lambda _change, path: _interesting(path),
                raise_interrupt=False,
            ):
                if changes:
                    self.on_change("watch")
        except Exception:  # a watcher failure must not kill the daemon: polling still works
            log.exception("file watching stopped; falling back to polling")
