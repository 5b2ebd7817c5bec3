"""The installed llama.cpp build runs on any machine of its class, whatever machine built it.

A build made with the build machine's native flags carries AMX tile instructions (and AVX-512)
on a recent Xeon, and dies with SIGILL where the CPU or the kernel does not allow them. The
libraries are disassembled, never loaded: this test must not be able to crash the test run.
"""

from __future__ import annotations

import importlib.util
import platform
import re
import shutil
import subprocess
from pathlib import Path

import pytest

# llama.cpp's runtime-selected CPU variants (GGML_CPU_ALL_VARIANTS) are named libggml-cpu-<variant>.so;
# only such a variant, chosen at run time after checking the CPU and the OS, may use AVX-512.
RUNTIME_VARIANT = re.compile(r"^libggml-cpu-[a-z0-9_]+\.so")


def _libraries() -> list[Path]:
    spec = importlib.util.find_spec("llama_cpp")
    assert spec is not None and spec.origin is not None, "llama-cpp-python is not installed"
    lib = Path(spec.origin).parent / "lib"
    seen: dict[Path, Path] = {}
    for path in sorted(lib.glob("*.so*")) + sorted(lib.glob("*.dylib")):
        if path.is_file() and not path.is_symlink():
            seen.setdefault(path.resolve(), path)
    return sorted(seen.values())


def _registers(path: Path) -> tuple[int, int]:
    """How often the disassembly names AMX tile registers (%tmm) and AVX-512 registers (%zmm)."""
    listing = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return listing.count("%tmm"), listing.count("%zmm")


@pytest.mark.skipif(shutil.which("objdump") is None, reason="objdump is absent (binutils)")
@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86-64 instruction sets")
def test_no_llama_cpp_library_uses_amx_or_unselected_avx512() -> None:
    libraries = [p for p in _libraries() if p.name.startswith(("libggml", "libllama", "libmtmd"))]
    assert any(p.name.startswith("libggml-cpu") for p in libraries), [p.name for p in libraries]
    problems = []
    for path in libraries:
        tmm, zmm = _registers(path)
        if tmm:
            problems.append(f"{path.name}: AMX tile instructions ({tmm} register uses)")
        if zmm and not RUNTIME_VARIANT.match(path.name):
            problems.append(f"{path.name}: AVX-512 outside a runtime-selected variant ({zmm} register uses)")
    assert not problems, "rebuild with scripts/install-llama.sh: " + "; ".join(problems)


@pytest.mark.skipif(shutil.which("as") is None or shutil.which("objdump") is None, reason="binutils absent")
@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86-64 instruction sets")
def test_the_check_sees_amx_and_avx512_instructions(tmp_path: Path) -> None:
    """The disassembly check finds what a native build would hold (so its silence above means something)."""
    source = tmp_path / "native.s"
    source.write_text("tilezero %tmm0\nvaddps %zmm0, %zmm1, %zmm2\nvaddps %ymm0, %ymm1, %ymm2\n")
    subprocess.run(["as", "-o", str(tmp_path / "native.o"), str(source)], check=True)
    assert _registers(tmp_path / "native.o") == (1, 3)
