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


PT_NOTE, PT_NULL = 4, 0
LAYOUT_NOTE = b"edgehost\0\0\0\0"   # the note's name, padded to 4 bytes (eh_guest_layout.h)


def _note_index(img) -> int:
    return next(i for i in range(ehdr(img)[9]) if phdr(img, i)[0] == PT_NOTE)


def _layout_id_at(img) -> int:
    """Offset of the layout note's 8-byte id in the file."""
    off = phdr(img, _note_index(img))[2]
    at = img.index(LAYOUT_NOTE, off)
    return at + len(LAYOUT_NOTE)


def test_every_image_carries_this_librarys_layout_note():
    for path in (vmm.IMAGE, vmm.TEST_IMAGE, vmm.IMAGE.with_name("edgehost-guest-doorbell.elf")):
        img = bytearray(path.read_bytes())
        assert check(bytes(img)) is None, path
        assert struct.unpack_from("<III", img, _layout_id_at(img) - 24)[:2] == (9, 8), path


def test_an_image_built_from_another_layout_is_refused(tmp_path):
    img = real()
    at = _layout_id_at(img)
    img[at] ^= 1   # one field moved: another id
    why = check(bytes(img))
    assert why is not None and "different builds" in why and "layout" in why
    bad = tmp_path / "other-layout.elf"
    bad.write_bytes(bytes(img))
    with pytest.raises(IsolationUnavailable, match="different builds"):
        vmm.Guest(image=bad)


def test_an_image_without_the_layout_note_is_refused():
    img = real()
    assert "no edgehost layout note" in check(bytes(with_ph(_note_index(img), type=PT_NULL)))


@pytest.mark.parametrize("field,value", [(0, 0xFFFFFFF0), (1, 0xFFFFFFF0), (1, 4)])
def test_a_malformed_layout_note_is_refused(field, value):
    img = real()
    hdr = _layout_id_at(img) - 24          # namesz, descsz, type of the layout note
    struct.pack_into("<I", img, hdr + 4 * field, value)
    why = check(bytes(img))
    assert why is not None and ("note" in why), why


def test_a_note_segment_aligned_to_8_bytes_is_read_by_the_gabi_rule():
    # name and descriptor start on 8-byte boundaries counted from the note's
    # start: for the 9-byte name the descriptor still starts at 24
    img = real()
    assert check(bytes(with_ph(_note_index(img), align=8))) is None
