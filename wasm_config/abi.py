"""The edgehost tenant ABI, version 1 -- the one source of truth.

The C import table (native_modules/wasmhost/registry.c), the C SDK header
(sdk/c/edgehost.h) and the Rust bindings (sdk/rust/src/sys.rs) must agree
with this file; tests/unit/test_abi_agreement.py checks all three.

Rules every import follows
--------------------------
* All pointers are i32 offsets into the tenant's exported ``memory``; every
  (ptr, len) pair is checked against the memory's current size (ptr+len is
  computed in 64 bits, so it cannot wrap). A range outside memory traps the
  call with ``edgehost.<import>: range [ptr, +len) is outside linear memory``.
* Copy-out rule for getters (``*_get``, ``request_*``): they return the full
  length of the value and write it to ``out`` only if it fits in ``out_cap``;
  a caller that gets a result larger than its buffer retries with a bigger one.
* Negative results are :data:`ERRORS` codes. Traps are reserved for contract
  violations (bad pointers, bad log level); recoverable conditions return codes.
* ``UNAVAILABLE`` from a ``kv_*`` import means the host's kv store cannot
  serve (its server is down, its disk is full). The tenant sees the code, and
  the host also fails the whole call when the handler returns (a 5xx for
  HTTP), so no answer is sent that was computed without the tenant's state.

Exports
-------
* ``memory`` (required): the linear memory.
* ``edgehost_abi_v1`` (required): ``() -> ()``, the version marker.
* ``edgehost_alloc`` (required): ``(size: i32) -> i32``, returns a buffer of
  at least ``size`` bytes the host writes a call's input into (0 = no room).
  The host may reuse it for later calls until it calls ``edgehost_alloc``
  again; tenants implement it as one growable buffer (both SDKs do).
* ``edgehost_configure`` (optional): ``() -> i32``, called once per new
  instance after ``_initialize``; non-zero rejects the configuration.
* ``_initialize`` (optional): WASI reactor constructor, called first.
* Handlers: every other function export of type ``(ptr: i32, len: i32) -> i32``.
  The host writes the input (request body) at ``ptr``; the handler returns 0 on
  success or a non-zero tenant status; the response body is what it passed to
  ``response_set_body``.

Structured data is msgpack (see :data:`MSGPACK_SHAPES`).
"""

from __future__ import annotations

from dataclasses import dataclass

ABI_VERSION = 1
IMPORT_MODULE = "edgehost"
ABI_MARKER = f"edgehost_abi_v{ABI_VERSION}"
ALLOC_EXPORT = "edgehost_alloc"
CONFIGURE_EXPORT = "edgehost_configure"
INITIALIZE_EXPORT = "_initialize"
MEMORY_EXPORT = "memory"

REQUIRED_EXPORTS = {
    MEMORY_EXPORT: "memory",
    ABI_MARKER: "()",
    ALLOC_EXPORT: "(i32)->i32",
}
OPTIONAL_EXPORTS = {
    CONFIGURE_EXPORT: "()->i32",
    INITIALIZE_EXPORT: "()",
}
HANDLER_SIGNATURE = "(i32,i32)->i32"
RESERVED_EXPORTS = set(REQUIRED_EXPORTS) | set(OPTIONAL_EXPORTS)

# Negative results of imports.
ERRORS = {
    "NOT_FOUND": -1,
    "INVALID": -2,
    "QUOTA": -3,
    "DENIED": -4,
    "UNAVAILABLE": -5,
    "GUEST_FAULT": -6,
    "TIMEOUT": -7,
}

LOG_LEVELS = {"debug": 0, "info": 1, "warn": 2, "error": 3, "fatal": 4}


@dataclass(frozen=True)
class Import:
    """One ``edgehost.*`` import. ``params``/``results``: 'i' = i32, 'I' = i64."""

    name: str
    params: str
    results: str
    doc: str

    @property
    def signature(self) -> str:
        """wasmtime-style text, e.g. ``(i32,i32)->i32``."""
        ty = {"i": "i32", "I": "i64"}
        p = ",".join(ty[c] for c in self.params)
        r = ",".join(ty[c] for c in self.results)
        return f"({p})->{r}" if r else f"({p})"


IMPORTS: tuple[Import, ...] = (
    Import("abi_nop", "", "", "Does nothing; the floor of a host call (benchmarks)."),
    Import("log", "iii", "", "log(level, ptr, len): level 0..4 (debug..fatal); longer than "
           "512 bytes is truncated; rate-limited per tenant, drops are counted."),
    Import("time_monotonic_ns", "", "I", "Monotonic clock, ns."),
    Import("time_wall_ns", "", "I", "Wall clock, ns since the Unix epoch."),
    Import("random_fill", "ii", "i", "random_fill(ptr, len): cryptographic random bytes; 0."),
    Import("crc32c", "iii", "i", "crc32c(ptr, len, seed) -> crc (u32 in i32); honours the "
           "tenant's isolation."),
    Import("config_get", "iiii", "i", "config_get(key, key_len, out, cap): the manifest value "
           "for key, msgpack-encoded; copy-out rule; NOT_FOUND."),
    Import("kv_get", "iiii", "i", "kv_get(key, key_len, out, cap): copy-out rule; sees every "
           "write committed before it, by any worker; NOT_FOUND; INVALID for an empty or "
           "oversized key; UNAVAILABLE (see below)."),
    Import("kv_put", "iiii", "i", "kv_put(key, key_len, val, val_len): 0 once committed (on "
           "disk as the manifest's `durable` says); INVALID for bad sizes; QUOTA when the "
           "tenant's kv budget would be exceeded (nothing changes); UNAVAILABLE."),
    Import("kv_delete", "ii", "i", "kv_delete(key, key_len): 0 or NOT_FOUND; UNAVAILABLE."),
    Import("request_method", "ii", "i", "request_method(out, cap): copy-out rule."),
    Import("request_path", "ii", "i", "request_path(out, cap): copy-out rule."),
    Import("request_query", "ii", "i", "request_query(out, cap): raw query string, no '?'."),
    Import("request_header", "iiii", "i", "request_header(name, name_len, out, cap): "
           "case-insensitive; copy-out rule; NOT_FOUND."),
    Import("request_headers", "ii", "i", "request_headers(out, cap): msgpack map str->str."),
    Import("request_body", "iii", "i", "request_body(out, cap, offset): copies from offset; "
           "returns bytes remaining from offset; INVALID if offset > length."),
    Import("response_set_status", "i", "i", "response_set_status(code): 100..599, else INVALID."),
    Import("response_set_header", "iiii", "i", "response_set_header(name, nlen, val, vlen): "
           "INVALID for CR/LF/NUL or a bad name; QUOTA past 4 KiB of headers."),
    Import("response_set_body", "ii", "i", "response_set_body(ptr, len): the response body "
           "(read by the host after the handler returns; last call wins)."),
    Import("offload", "ii", "i", "offload(req, res): run a native kernel (OffloadRequest at "
           "req, OffloadResult written at res). 0 when the kernel ran (see res.status); "
           "DENIED if the manifest does not allow it; GUEST_FAULT/TIMEOUT from KVM isolation."),
)

IMPORTS_BY_NAME = {imp.name: imp for imp in IMPORTS}

# Offload request layout in tenant memory (little-endian, 64 bytes).
OFFLOAD_REQUEST_FIELDS = (
    ("kernel", "u32"), ("flags", "u32"), ("arg", "u64[4]"),
    ("in", "u32"), ("in_len", "u32"), ("in2", "u32"), ("in2_len", "u32"),
    ("out", "u32"), ("out_cap", "u32"),
)
OFFLOAD_REQUEST_SIZE = 64
# Result layout (32 bytes): status is a kernel status (0 ok, <0 error).
OFFLOAD_RESULT_FIELDS = (
    ("status", "i32"), ("detail", "u32"), ("value", "u64"), ("out_len", "u64"),
    ("err_offset", "u64"),
)
OFFLOAD_RESULT_SIZE = 32

# Kernel ids (native_modules/include/eh_offload.h).
KERNELS = {
    "nop": 0, "crc32c": 1, "csv_index": 2, "csv_fields": 3,
    "json_validate": 4, "json_minify": 5, "json_pointer": 6,
    "vec_dot": 7, "vec_axpy": 8, "vec_sum": 9, "vec_l2norm": 10, "vec_l2sq": 11,
    "vec_cosine": 12, "vec_matvec": 13, "vec_topk": 14, "stream": 15,
}
KERNEL_STATUS = {
    "OK": 0, "EINVAL": -1, "ENOSPC": -2, "EPARSE": -3, "ENOTSUP": -4, "EDEPTH": -5,
    "ENOTFOUND": -6,
}

# JSON kernels: error kinds (result.detail with EPARSE/EDEPTH, or EINVAL for a
# bad pointer) and value types (result.detail of json_pointer); the names are
# what the CLI and the SDKs print (native_modules/kernels/json/json.h).
JSON_ERRORS = {
    1: "empty", 2: "invalid-utf8", 3: "control-character", 4: "bad-escape",
    5: "lone-surrogate", 6: "unterminated-string", 7: "bad-number", 8: "bad-literal",
    9: "trailing-comma", 10: "expected-value", 11: "expected-key", 12: "expected-colon",
    13: "expected-comma-or-close", 14: "trailing-content", 15: "unexpected-end",
    16: "too-deep", 17: "bad-pointer",
}
JSON_TYPES = {1: "null", 2: "false", 3: "true", 4: "string", 5: "int64", 6: "uint64",
              7: "bigint", 8: "double", 9: "array", 10: "object", 11: "double-text"}

# msgpack shapes of structured values.
MSGPACK_SHAPES = {
    "request_headers": "map<str, str> (names lower-cased)",
    "config_value": "the manifest value as msgpack: nil/bool/int/float/str/array/map",
    "kv_value": "opaque bytes (SDKs offer msgpack helpers)",
    "call_metadata": "map{'tenant': str, 'export': str, 'status': int, 'headers': map<str,str>}",
}
