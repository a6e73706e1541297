"""Helpers shared by the security, reliability and fuzz tests (one support
module instead of imports between test files).

* :class:`Resources`: what a leak shows up in -- resident memory, file
  descriptors, threads and live KVM VMs/vCPUs of this process -- measured at
  two points and compared within a stated slack.
* :func:`import_decls` / :func:`caller_module`: WAT text generated from the
  ABI's import table (wasm_config/abi.py), so a new import is attacked
  without editing the tests.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import struct
import threading

from edgehost.wasm_config import abi

REPO = pathlib.Path(__file__).resolve().parent.parent

# The hostile WAT tenants' memory: 2 pages of 64 KiB, never grown unless said.
WAT_MEM = 2 * 65536
# Where the host writes a call's input (their edgehost_alloc returns it).
WAT_INPUT = 4096


# -- resources ---------------------------------------------------------------------
def rss_kib() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def _fd_targets() -> list[str]:
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # closed between listdir and readlink
            pass
    return out


@dataclasses.dataclass(frozen=True)
class Resources:
    """One measurement of this process."""

    rss_kib: int
    fds: int
    threads: int
    kvm_vms: int     # open KVM VM descriptors (one per live guest)
    kvm_vcpus: int   # open vCPU descriptors

    @classmethod
    def now(cls) -> Resources:
        targets = _fd_targets()
        return cls(
            rss_kib=rss_kib(),
            fds=len(targets),
            threads=len(os.listdir("/proc/self/task")),
            kvm_vms=sum(t == "anon_inode:kvm-vm" for t in targets),
            kvm_vcpus=sum(t.startswith("anon_inode:kvm-vcpu") for t in targets),
        )

    def assert_flat(self, later: Resources, *, rss_slack_kib: int, fd_slack: int = 0,
                    thread_slack: int = 0) -> None:
        """``later`` holds no more than this plus the slack (RSS in KiB)."""
        problems = []
        if later.rss_kib - self.rss_kib > rss_slack_kib:
            problems.append(f"RSS grew {later.rss_kib - self.rss_kib} KiB "
                            f"(slack {rss_slack_kib})")
        if later.fds - self.fds > fd_slack:
            problems.append(f"fds {self.fds} -> {later.fds}")
        if later.threads - self.threads > thread_slack:
            problems.append(f"threads {self.threads} -> {later.threads}")
        if later.kvm_vms > self.kvm_vms or later.kvm_vcpus > self.kvm_vcpus:
            problems.append(f"KVM VMs {self.kvm_vms} -> {later.kvm_vms}, "
                            f"vCPUs {self.kvm_vcpus} -> {later.kvm_vcpus}")
        assert not problems, "; ".join(problems)


# -- WAT generated from the ABI ------------------------------------------------------
_WT = {"i": "i32", "I": "i64"}


def import_decls() -> str:
    """``(import "edgehost" NAME (func $NAME ...))`` for every ABI import."""
    out = []
    for imp in abi.IMPORTS:
        params = " ".join(_WT[c] for c in imp.params)
        results = " ".join(_WT[c] for c in imp.results)
        sig = (f" (param {params})" if params else "") + (f" (result {results})"
                                                          if results else "")
        out.append(f'  (import "{abi.IMPORT_MODULE}" "{imp.name}" (func ${imp.name}{sig}))')
    return "\n".join(out)


def caller_module(extra: str = "") -> str:
    """A module body (imports + handlers, no ABI prologue) with one handler
    ``call_NAME`` per import: it calls the import with its i32 arguments read
    from the input (little-endian, 4 bytes each) and answers with the result
    (4 or 8 bytes; nothing for a void import)."""
    funcs = ["""
  (func $arg (param $p i32) (param $i i32) (result i32)
    (i32.load (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2)))))"""]
    for imp in abi.IMPORTS:
        args = " ".join(f"(call $arg (local.get $p) (i32.const {i}))"
                        for i in range(len(imp.params)))
        call = f"(call ${imp.name} {args})"
        if imp.results == "i":
            body = (f"(i32.store (i32.const 64) {call})\n"
                    "    (drop (call $response_set_body (i32.const 64) (i32.const 4)))")
        elif imp.results == "I":
            body = (f"(i64.store (i32.const 64) {call})\n"
                    "    (drop (call $response_set_body (i32.const 64) (i32.const 8)))")
        else:
            body = call
        funcs.append(f"""
  (func (export "call_{imp.name}") (param $p i32) (param $n i32) (result i32)
    {body}
    (i32.const 0))""")
    return import_decls() + "".join(funcs) + extra


# -- concurrency -----------------------------------------------------------------------
def run_threads(n: int, target, *args) -> list[BaseException]:
    """Run ``target(i, *args)`` on ``n`` threads; return what they raised."""
    errors: list[BaseException] = []
    lock = threading.Lock()

    def wrap(i):
        try:
            target(i, *args)
        except BaseException as exc:  # collected and reported by the caller
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return errors


# -- guest images --------------------------------------------------------------------
def elf_symbols(path: str | os.PathLike) -> dict[str, int]:
    """Global symbols of a static ELF64 image (name -> address), read from
    its .symtab (the test guest image keeps one: nothing strips it)."""
    data = pathlib.Path(path).read_bytes()
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
                for i in range(shnum)]
    out = {}
    for _name, sh_type, _f, _a, off, size, link, _i, _al, entsize in sections:
        if sh_type != 2:  # SHT_SYMTAB
            continue
        stroff = sections[link][4]
        for at in range(off, off + size, entsize):
            st_name, st_info, _o, _shndx, value, _sz = struct.unpack_from("<IBBHQQ", data, at)
            if st_info >> 4 == 1 and st_name:  # STB_GLOBAL
                end = data.index(b"\0", stroff + st_name)
                out[data[stroff + st_name:end].decode()] = value
    return out


def elf_segments(path: str | os.PathLike) -> list[tuple[int, int, int]]:
    """PT_LOAD segments of an ELF64 image as (vaddr, memsz, flags: PF_R=4 W=2 X=1)."""
    data = pathlib.Path(path).read_bytes()
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    out = []
    for i in range(phnum):
        p_type, flags, _off, vaddr, _pa, _fsz, memsz, _al = struct.unpack_from(
            "<IIQQQQQQ", data, phoff + i * phentsize)
        if p_type == 1:
            out.append((vaddr, memsz, flags))
    return out
