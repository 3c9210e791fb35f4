"""Where datasets live, and downloading them there with a verified checksum."""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

from harness.errors import DataError
from harness.io import sha256_file

ENV_VAR = "HARNESS_DATA_DIR"
DEFAULT_ROOT = Path("~/.cache/harness/data")


def data_root(explicit: str | Path | None = None) -> Path:
    """The data root: `explicit` > `$HARNESS_DATA_DIR` > `~/.cache/harness/data` (not created here)."""
    if explicit is not None and str(explicit) != "":
        return Path(explicit).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return DEFAULT_ROOT.expanduser()


def verify_sha256(path: Path, expected: str, fix: str, label: str | None = None) -> None:
    """Raise DataError if `path`'s sha256 differs from `expected`.

    `fix` says what to do about it; `label` names the file in the message when `path` is a
    temporary file the user never sees.
    """
    actual = sha256_file(path)
    if actual != expected:
        raise DataError(
            f"checksum mismatch for {label or path}: expected sha256 {expected}, got {actual}. {fix}"
        )


def fetch(url: str, dest: str | Path, sha256: str | None, timeout: float = 60.0) -> Path:
    """Download `url` to `dest` atomically; verify `sha256` when given.

    Raises DataError on any network failure or checksum mismatch; `dest` is only ever the
    complete, verified file (a partial download stays in a temporary file that is removed).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                shutil.copyfileobj(response, out)
        except OSError as exc:  # URLError, HTTPError and socket timeouts are all OSErrors
            raise DataError(
                f"could not download {url} to {dest}: {exc}. Check the network connection, or download "
                f"the file by hand and put it at {dest}."
            ) from exc
        if sha256 is not None:
            verify_sha256(
                tmp,
                sha256,
                f"The download from {url} is corrupt or the upstream file changed; retry, or fetch it by "
                f"hand and check it before placing it at {dest}.",
                label=f"{dest} (downloaded from {url})",
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest
