"""The guest ELF loader treats images as untrusted: every malformed image is
rejected with a clear reason before anything is loaded."""

from __future__ import annotations

import struct

import pytest

from edgehost.errors import IsolationUnavailable
from edgehost.isolation import guest as vmm
from edgehost.native import ffi, lib

pytestmark = pytest.mark.kvm

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")
PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_TLS = 1, 2, 3, 7
PF_X, PF_W, PF_R = 1, 2, 4


def check(img: bytes) -> str | None:
    """None if accepted, else the loader's reason."""
    err = ffi.new("char[]", 256)
    buf = ffi.from_buffer(img)
    rc = lib.eh_vm_check_elf(ffi.cast("uint8_t *", buf), len(img), err, 256)
    return None if rc == 0 else ffi.string(err).decode()


def real() -> bytearray:
    return bytearray(vmm.IMAGE.read_bytes())


def ehdr(img):
    return list(EHDR.unpack_from(img, 0))


def set_ehdr(img, fields):
    EHDR.pack_into(img, 0, *fields)
    return img


def phdr(img, i):
    f = ehdr(img)
    return list(PHDR.unpack_from(img, f[5] + i * 56))


def set_phdr(img, i, fields):
    PHDR.pack_into(img, ehdr(img)[5] + i * 56, *fields)
    return img


def with_ph(i, **kw):
    img = real()
    names = ["type", "flags", "offset", "vaddr", "paddr", "filesz", "memsz", "align"]
    p = dict(zip(names, phdr(img, i), strict=True))
    p.update(kw)
    return set_phdr(img, i, [p[n] for n in names])


def test_real_image_is_accepted():
    assert check(bytes(real())) is None
    assert check(vmm.TEST_IMAGE.read_bytes()) is None


@pytest.mark.parametrize("cut", [0, 10, 63, 64, 100, 200])
def test_truncated_images_are_rejected(cut):
    assert check(bytes(real()[:cut])) is not None


def test_truncated_segment_is_rejected():
    img = real()
    assert "truncated" in check(bytes(img[: phdr(img, 0)[2] + 16]))


@pytest.mark.parametrize("field,value,what", [
    (0, b"\x7fELG" + b"\x02\x01\x01" + bytes(9), "magic"),
    (0, b"\x7fELF" + b"\x01\x01\x01" + bytes(9), "ELF64"),
    (1, 3, "static x86-64"),        # ET_DYN
    (2, 183, "static x86-64"),      # aarch64
    (9, 32, "header sizes"),        # phentsize
    (10, 0, "program header count"),
    (10, 500, "program header count"),
    (5, 1 << 40, "outside the file"),
])
def test_bad_headers_are_rejected(field, value, what):
    f = ehdr(real())
    img = real()
    f[field] = value
    assert what in check(bytes(set_ehdr(img, f)))


def test_bad_entry_is_rejected():
    img = real()
    f = ehdr(img)
    f[4] = phdr(img, 1)[3]  # entry in the read-only, non-executable rodata segment
    assert "entry point" in check(bytes(set_ehdr(img, f)))
    f[4] = 0xDEAD0000
    assert "entry point" in check(bytes(set_ehdr(img, f)))


def test_overlapping_segments_are_rejected():
    img = real()
    assert "overlaps" in check(bytes(with_ph(1, vaddr=phdr(img, 0)[3] + 0x10)))


@pytest.mark.parametrize("kw,what", [
    ({"memsz": 1 << 62, "filesz": 1 << 62}, "sizes"),            # huge
    ({"memsz": 0x10}, "sizes"),                                  # filesz > memsz
    ({"vaddr": 0x1000}, "outside the image region"),             # over the monitor
    ({"vaddr": 0xBFF000, "memsz": 0x400000}, "outside the image region"),
    ({"vaddr": (1 << 64) - 0x1000}, "outside the image region"),  # wraps
    ({"flags": PF_R | PF_W | PF_X}, "never W+X"),
    ({"flags": PF_X}, "need R"),
    ({"type": PT_INTERP}, "dynamic"),
    ({"type": PT_DYNAMIC}, "dynamic"),
    ({"type": PT_TLS}, "thread-local"),
    ({"type": 0x6FFFFFF0}, "unknown program header"),
    ({"align": 3}, "power of two"),
])
def test_bad_segments_are_rejected(kw, what):
    assert what in check(bytes(with_ph(0, **kw)))


def test_guest_with_bad_image_is_refused(tmp_path):
    bad = tmp_path / "bad.elf"
    bad.write_bytes(bytes(with_ph(0, flags=PF_R | PF_W | PF_X)))
    with pytest.raises(IsolationUnavailable, match="W\\+X"):
        vmm.Guest(image=bad)
