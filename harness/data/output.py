"""Writing a prepared data variant: JSONL files first, manifest.json last.

The manifest is removed before and written after the data files, so its presence means the
whole folder is complete and consistent (each file is itself written atomically).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from harness.io import atomic_write_text, sha256_file, write_jsonl

MANIFEST = "manifest.json"


def write_prepared(out_dir: Path, files: dict[str, list[dict]], manifest: dict) -> dict:
    """Write each `files[name]` as `out_dir/name` (JSONL) and the manifest; returns the manifest written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST).unlink(missing_ok=True)
    written = {}
    for name, rows in files.items():
        path = out_dir / name
        written[name] = {"rows": write_jsonl(path, rows), "sha256": sha256_file(path)}
    manifest = {**manifest, "files": written}
    atomic_write_text(out_dir / MANIFEST, manifest_json(manifest))
    return manifest


def manifest_json(manifest: dict) -> str:
    """Indented JSON, but with lists of integers on one line: row-index lists run to tens of thousands."""
    text = json.dumps(manifest, ensure_ascii=False, indent=2)
    return (
        re.sub(
            r"\[\s*(-?\d+(?:,\s*-?\d+)*)\s*\]", lambda m: "[" + re.sub(r"\s+", " ", m.group(1)) + "]", text
        )
        + "\n"
    )
