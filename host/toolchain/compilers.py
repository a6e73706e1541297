"""Finding the wasm toolchains and building tenants with them.

C tenants: Debian's clang + lld + wasi-libc (+ compiler-rt builtins for
wasm32), target wasm32-wasi as a reactor. Rust tenants: Debian's rustc
(/usr/bin/rustc, which ships the wasm32 std; a rustup toolchain without the
target is skipped), target wasm32-unknown-unknown, crate type cdylib.
Each missing piece is reported with the exact package that provides it.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import pathlib
import shutil
import subprocess

from edgehost.errors import BuildError, ToolchainMissing

APT = {
    "c": ["clang", "lld", "wasi-libc", "libclang-rt-dev-wasm32"],
    "rust": ["rustc", "libstd-rust-dev-wasm32"],
}
C_FLAGS = ["-O2", "-Wall", "-Wextra", "-mexec-model=reactor", "-fno-exceptions",
           "-Wl,--gc-sections", "-Wl,--strip-debug"]
RUST_FLAGS = ["--edition=2021", "--crate-type=cdylib", "-C", "opt-level=3",
              "-C", "panic=abort", "-C", "strip=debuginfo", "-C", "lto"]


@dataclasses.dataclass
class Toolchain:
    lang: str
    ok: bool
    detail: str
    compiler: str | None = None


def _first_existing(*paths: str) -> str | None:
    for p in paths:
        if p and os.path.exists(p):
            return p
    return None


def find_c() -> Toolchain:
    """clang able to target wasm32-wasi, wasm-ld, wasi-libc and the builtins."""
    clang = shutil.which("clang") or _first_existing(*sorted(glob.glob("/usr/bin/clang-1*")))
    if not clang:
        return Toolchain("c", False, "clang not found (apt-get install clang)")
    if not shutil.which("wasm-ld") and not glob.glob("/usr/bin/wasm-ld*"):
        return Toolchain("c", False, "wasm-ld not found (apt-get install lld)", clang)
    if not _first_existing("/usr/lib/wasm32-wasi/libc.a", "/usr/share/wasi-sysroot/lib/"
                           "wasm32-wasi/libc.a"):
        return Toolchain("c", False, "wasi-libc not found (apt-get install wasi-libc)", clang)
    if not glob.glob("/usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a"):
        return Toolchain("c", False, "wasm32 builtins not found "
                         "(apt-get install libclang-rt-dev-wasm32)", clang)
    return Toolchain("c", True, _version(clang), clang)


def find_rust() -> Toolchain:
    """A rustc whose sysroot has the wasm32-unknown-unknown std."""
    candidates = ["/usr/bin/rustc"]
    if shutil.which("rustc"):
        candidates.append(shutil.which("rustc"))
    for rustc in candidates:
        if not os.path.exists(rustc):
            continue
        try:
            sysroot = subprocess.run([rustc, "--print", "sysroot"], capture_output=True,
                                     text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            continue
        if glob.glob(f"{sysroot}/lib/rustlib/wasm32-unknown-unknown/lib/libcore-*.rlib"):
            return Toolchain("rust", True, _version(rustc), rustc)
    return Toolchain("rust", False, "no rustc with the wasm32 target "
                     "(apt-get install rustc libstd-rust-dev-wasm32)")


def _version(exe: str) -> str:
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
        return out.stdout.splitlines()[0] if out.stdout else exe
    except (OSError, subprocess.TimeoutExpired):
        return exe


def find_all() -> dict[str, Toolchain]:
    return {"c": find_c(), "rust": find_rust()}


def require(lang: str) -> Toolchain:
    tc = find_c() if lang == "c" else find_rust()
    if not tc.ok:
        raise ToolchainMissing(f"{lang} -> wasm32 toolchain ({tc.detail})",
                               "apt-get install -y " + " ".join(APT[lang]))
    return tc


def compile_c(sources: list[pathlib.Path], out: pathlib.Path, include_dirs: list[pathlib.Path],
              *, extra: list[str] | None = None, target: str = "wasm32-wasi",
              cwd: pathlib.Path | None = None, name: str | None = None) -> str:
    """Compile C sources into one wasm module; return the compiler's output
    (warnings). With ``cwd`` (the tenant's directory), sources inside it are
    named relative to it, so messages say ``hello.c:12:3``, not a full path."""
    tc = require("c")
    cmd = [tc.compiler, f"--target={target}", *C_FLAGS, *(extra or [])]
    cmd += [f"-I{d}" for d in include_dirs]
    cmd += [_relative(s, cwd) for s in sources] + ["-o", str(out)]
    return _run(cmd, out, cwd=cwd, name=name)


def _relative(p: pathlib.Path, base: pathlib.Path | None) -> str:
    if base is not None:
        try:
            return str(pathlib.Path(p).resolve().relative_to(base.resolve()))
        except ValueError:
            pass
    return str(p)


def compile_rust(lib_rs: pathlib.Path, out: pathlib.Path, sdk_rlib: pathlib.Path | None,
                 *, crate_name: str, extra: list[str] | None = None,
                 name: str | None = None) -> str:
    """Compile a Rust tenant (one crate root) into a wasm module; return the
    compiler's output (warnings)."""
    tc = require("rust")
    cmd = [tc.compiler, *RUST_FLAGS, *(extra or []), "--target=wasm32-unknown-unknown",
           f"--crate-name={crate_name}", str(lib_rs), "-o", str(out)]
    if sdk_rlib is not None:
        cmd += ["--extern", f"edgehost_sdk={sdk_rlib}", "-L", str(sdk_rlib.parent)]
    return _run(cmd, out, name=name)


def compile_rust_lib(lib_rs: pathlib.Path, out_dir: pathlib.Path, *,
                     crate_name: str, extra: list[str] | None = None) -> pathlib.Path:
    """Compile a no_std library crate to an rlib for wasm32; return its path."""
    tc = require("rust")
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"lib{crate_name}.rlib"
    cmd = [tc.compiler, "--edition=2021", "--crate-type=rlib", "-C", "opt-level=3",
           "-C", "panic=abort", *(extra or []), "--target=wasm32-unknown-unknown",
           f"--crate-name={crate_name}", str(lib_rs), "-o", str(out)]
    _run(cmd, out)
    return out


def _run(cmd: list[str], out: pathlib.Path, *, cwd: pathlib.Path | None = None,
         name: str | None = None) -> str:
    """Run a compiler; its whole output (stderr then stdout) is returned, or
    carried by the BuildError when it fails (``name``: what the error names)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    what = name or out.name
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=cwd)
    except subprocess.TimeoutExpired:
        raise BuildError(what, "compiler timed out after 300 s") from None
    output = (proc.stderr or "") + (proc.stdout or "")
    if proc.returncode != 0:
        raise BuildError(what, output or f"compiler exited with status {proc.returncode}")
    return output
