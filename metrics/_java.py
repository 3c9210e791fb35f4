"""Java and the official jars that pip ``pycocoevalcap`` ships (byte-identical to e2e-metrics').

The jars' sha256 go into the signatures. Hashing the 60 MB paraphrase table costs a noticeable
fraction of a second, so digests are cached in memory and on disk, keyed by path, size and mtime.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import threading
from functools import cache
from pathlib import Path

from .base import MetricError

__all__ = ["JVM_FLAGS", "coco_file", "java_executable", "sha256_file"]

# Meteor and the PTB tokenizer lowercase with the JVM's default locale and Java 17 takes its
# default charset from the OS locale; pin both so a Turkish or POSIX locale cannot move a score.
JVM_FLAGS = ["-Duser.language=en", "-Duser.country=US", "-Dfile.encoding=UTF-8"]

_HASH_LOCK = threading.Lock()


def java_executable() -> str:
    """``$JAVA_HOME/bin/java`` if set, else ``java`` on PATH; a clear error when there is none."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise MetricError(
            "Java was not found (no JAVA_HOME, no `java` on PATH): METEOR and the PTB tokenizer run the "
            "official jars. Install a JRE >= 8 (e.g. `apt-get install default-jre-headless`) or set JAVA_HOME."
        )
    return found


def coco_file(relative: str) -> Path:
    """A file inside the installed pycocoevalcap package (e.g. ``meteor/meteor-1.5.jar``)."""
    spec = importlib.util.find_spec("pycocoevalcap")
    if spec is None or not spec.submodule_search_locations:
        raise MetricError("pycocoevalcap is not installed; it ships the official jars: pip install pycocoevalcap==1.2")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise MetricError(f"{path} is missing; reinstall it: pip install --force-reinstall pycocoevalcap==1.2")
    return path


def _cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "prompt-peft-harness" / "metrics-sha256.json"


@cache
def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, remembered across processes while the file is unchanged."""
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    cache = _cache_file()
    with _HASH_LOCK:
        try:
            known = json.loads(cache.read_text())
        except (OSError, ValueError):
            known = {}
        if key in known:
            return known[key]
        hasher = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                hasher.update(chunk)
        digest = hasher.hexdigest()
        known[key] = digest
        try:  # the cache is an optimisation: a read-only home must not break scoring
            cache.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=cache.parent, delete=False, suffix=".tmp") as tmp:
                json.dump(known, tmp)
            os.replace(tmp.name, cache)
        except OSError:
            pass
        return digest
