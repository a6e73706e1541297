"""The edgehost tenant ABI, version 1 -- the one source of truth.

Everything a tenant and the host must agree on is declared here once: the
``edgehost.*`` imports with their typed parameters, the exports, every
integer constant a tenant or a kernel can see (import results, log levels,
kernel ids and statuses, the kernels' flags, error kinds and limits) and the
two structs that cross linear memory (the offload request and result).

Every other copy is generated from this file by :mod:`edgehost.wasm_config.gen`
(``python -m edgehost.wasm_config.gen``): the host's C header
(``native_modules/include/eh_abi.h``: the import table, the enums the host
API, the kernels and the guest compile against), the C SDK's
``sdk/c/edgehost_abi.h`` and the Rust SDK's ``sdk/rust/src/sys.rs``. Each
generated file says so in its first line; ``tests/unit/test_abi_generated.py``
regenerates them in memory and fails when a file on disk is stale. Python
reads the values from here (``abi.KStatus.EPARSE``, ``abi.KERNELS["crc32c"]``).

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

Kernels have one name everywhere (manifest ``kernels``, ``edgehost kernel
NAME``, errors): the lower-case, hyphenated spelling in :data:`KERNELS`
(``json-validate``, ``csv-index``, ``vec-dot``).

Structured data is msgpack (see :data:`MSGPACK_SHAPES`).
"""

from __future__ import annotations

import enum
import struct
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


# --- integer constants ------------------------------------------------------------

@dataclass(frozen=True)
class Const:
    """One constant: ``name`` is its spelling after the group's prefix
    (C ``EH_ERR_NOT_FOUND``, Rust ``ERR_NOT_FOUND``); ``label`` is the name
    users read (a kernel's CLI/manifest name, an error kind as printed)."""

    name: str
    value: int
    doc: str = ""
    label: str | None = None


@dataclass(frozen=True)
class Group:
    """A family of constants that crosses the tenant boundary.

    ``ctype`` is the C/Rust type (``i32``, ``u32``, ``u64``); ``c_enum`` makes
    the host header declare a C enum of that tag (else ``#define``s);
    ``name_fn`` makes the headers define a function from a value to its
    ``label`` (``eh_kernel_name``)."""

    key: str
    c_prefix: str
    rust_prefix: str
    ctype: str
    doc: str
    items: tuple[Const, ...]
    c_enum: str | None = None
    name_fn: str | None = None

    def by_name(self) -> dict[str, int]:
        return {c.name: c.value for c in self.items}

    def by_label(self) -> dict[str, int]:
        return {c.label: c.value for c in self.items if c.label}

    def labels(self) -> dict[int, str]:
        return {c.value: c.label for c in self.items if c.label}


def _group(key, c_prefix, rust_prefix, ctype, doc, items, **kw) -> Group:
    return Group(key, c_prefix, rust_prefix, ctype, doc,
                 tuple(Const(*i) if isinstance(i, tuple) else i for i in items), **kw)


def _kernel(name: str, value: int, doc: str) -> Const:
    return Const(name, value, doc, label=name.lower().replace("_", "-"))


ERROR_GROUP = _group("ERRORS", "EH_ERR_", "ERR_", "i32", "Negative results of imports.", (
    ("NOT_FOUND", -1, "no such key, header or value"),
    ("INVALID", -2, "a bad size, key, status code or argument"),
    ("QUOTA", -3, "a per-tenant budget (kv bytes, header bytes) would be exceeded"),
    ("DENIED", -4, "the manifest does not allow this (e.g. a kernel)"),
    ("UNAVAILABLE", -5, "the service is not available right now"),
    ("GUEST_FAULT", -6, "the tenant's KVM guest faulted while running a kernel"),
    ("TIMEOUT", -7, "the kernel ran past the call's deadline"),
), c_enum="eh_abi_error")

LOG_GROUP = _group("LOG_LEVELS", "EH_LOG_", "LOG_", "i32", "Levels of the log import.", (
    Const("DEBUG", 0, "debug", "debug"), Const("INFO", 1, "info", "info"),
    Const("WARN", 2, "warn", "warn"), Const("ERROR", 3, "error", "error"),
    Const("FATAL", 4, "fatal (the SDKs' panic handlers)", "fatal"),
))

LIMIT_GROUP = _group("LIMITS", "EH_", "", "u32", "Fixed sizes of the host API.", (
    ("LOG_MSG_MAX", 512, "a log line longer than this is truncated"),
    ("RESP_HEADERS_MAX", 4096, "response headers, name+value+2 bytes each; QUOTA past it"),
))

KERNEL_GROUP = _group("KERNELS", "EH_KERNEL_", "KERNEL_", "u32",
                      "Kernel ids (OffloadRequest.kernel).", (
    _kernel("NOP", 0, "does nothing, value = 0; the latency probe"),
    _kernel("CRC32C", 1, "CRC32C, arg[0] = seed, value = crc"),
    _kernel("CSV_INDEX", 2, "CSV field index: one u32 entry per field"),
    _kernel("CSV_FIELDS", 3, "CSV unescaped field values"),
    _kernel("JSON_VALIDATE", 4, "JSON validation, value = structural tokens"),
    _kernel("JSON_MINIFY", 5, "JSON without insignificant whitespace"),
    _kernel("JSON_POINTER", 6, "the value at an RFC 6901 pointer (in2)"),
    _kernel("VEC_DOT", 7, "dot product"),
    _kernel("VEC_AXPY", 8, "alpha * x + y"),
    _kernel("VEC_SUM", 9, "sum of elements"),
    _kernel("VEC_L2NORM", 10, "Euclidean norm"),
    _kernel("VEC_L2SQ", 11, "squared Euclidean distance"),
    _kernel("VEC_COSINE", 12, "cosine similarity"),
    _kernel("VEC_MATVEC", 13, "matrix-vector product"),
    _kernel("VEC_TOPK", 14, "top-k rows of a matrix by a metric"),
    _kernel("STREAM", 15, "STREAM copy/scale/add/triad (benchmarks)"),
), c_enum="eh_kernel_id", name_fn="eh_kernel_name")

KSTATUS_GROUP = _group("KERNEL_STATUS", "EH_K_", "KSTATUS_", "i32",
                       "Kernel statuses (OffloadResult.status): 0 ok, errors < 0.", (
    Const("OK", 0, "success", "ok"),
    Const("EINVAL", -1, "bad arguments (lengths, flags, dialect); never the buffers' "
          "alignment: kernels take any address", "invalid arguments"),
    Const("ENOSPC", -2, "out_cap too small; out_len holds the size needed",
          "output buffer too small"),
    Const("EPARSE", -3, "malformed input; err_offset = byte, detail = kind",
          "malformed input"),
    Const("ENOTSUP", -4, "unknown kernel id or variant", "not supported"),
    Const("EDEPTH", -5, "nesting deeper than the limit", "nesting too deep"),
    Const("ENOTFOUND", -6, "e.g. a JSON pointer that names no value", "not found"),
), c_enum="eh_kernel_status", name_fn="eh_kernel_status_text")

JSON_GROUP = _group("JSON", "EH_JSON_", "JSON_", "u32", "JSON kernel parameters.", (
    ("F_TAPE", 1, "flags (json-validate): also return the tape"),
    ("DEFAULT_DEPTH", 1024, "arg[0] = 0 means this nesting depth"),
    ("MAX_DEPTH", 1 << 20, "the deepest arg[0] accepted"),
))

JSON_ERROR_GROUP = _group(
    "JSON_ERRORS", "EH_JSON_E_", "JSON_E_", "u32",
    "JSON error kinds: OffloadResult.detail with EPARSE/EDEPTH (EINVAL for BAD_POINTER).", (
        Const("EMPTY", 1, "no value at all", "empty"),
        Const("UTF8", 2, "offset = first byte of the bad sequence", "invalid-utf8"),
        Const("CONTROL", 3, "raw byte < 0x20 in a string or outside", "control-character"),
        Const("ESCAPE", 4, "offset = the backslash", "bad-escape"),
        Const("SURROGATE", 5, "unpaired \\uD800-\\uDFFF; the backslash", "lone-surrogate"),
        Const("UNTERMINATED", 6, "string never closed; its opening quote",
              "unterminated-string"),
        Const("NUMBER", 7, "offset = first byte of the number", "bad-number"),
        Const("LITERAL", 8, "bad true/false/null or stray word", "bad-literal"),
        Const("TRAILING_COMMA", 9, "offset = the closing bracket", "trailing-comma"),
        Const("EXPECTED_VALUE", 10, "", "expected-value"),
        Const("EXPECTED_KEY", 11, "", "expected-key"),
        Const("EXPECTED_COLON", 12, "", "expected-colon"),
        Const("EXPECTED_COMMA", 13, "',' or the matching close expected",
              "expected-comma-or-close"),
        Const("TRAILING", 14, "content after the root value", "trailing-content"),
        Const("END", 15, "input ended inside a value; offset = len", "unexpected-end"),
        Const("DEPTH", 16, "with status EDEPTH", "too-deep"),
        Const("BAD_POINTER", 17, "EINVAL; offset into in2", "bad-pointer"),
    ), c_enum="eh_json_error", name_fn="eh_json_error_name")

JSON_TYPE_GROUP = _group(
    "JSON_TYPES", "EH_JSON_T_", "JSON_T_", "u32",
    "JSON value types: OffloadResult.detail of json-pointer.", (
        Const("NULL", 1, "", "null"), Const("FALSE", 2, "", "false"),
        Const("TRUE", 3, "", "true"), Const("STRING", 4, "", "string"),
        Const("INT64", 5, "value = the integer (two's complement)", "int64"),
        Const("UINT64", 6, "value = the integer", "uint64"),
        Const("BIGINT", 7, "an integer beyond 64 bits: text only", "bigint"),
        Const("DOUBLE", 8, "has a fraction or exponent; value = IEEE bits", "double"),
        Const("ARRAY", 9, "", "array"), Const("OBJECT", 10, "", "object"),
        Const("DOUBLE_TEXT", 11, "a double whose rounding was not proven: convert the text",
              "double-text"),
    ), c_enum="eh_json_type", name_fn="eh_json_type_name")

CSV_GROUP = _group("CSV", "EH_CSV_", "CSV_", "u32", "CSV kernel parameters.", (
    ("F_STRICT", 1, "flags: RFC 4180 quoting, stray quotes are errors"),
    ("F_RECT", 2, "flags: every row as wide as the first"),
    ("ROW_END", 0x8000_0000, "index entry bit: the field ends its row"),
    ("QUOTED", 0x4000_0000, "index entry bit: the field was quoted"),
    ("OFFSET_MASK", 0x3FFF_FFFF, "index entry bits holding the field's end offset"),
    ("MAX_LEN", 0x7FFF_FFFF, "the largest input (in_len) a CSV kernel takes"),
))

CSV_ERROR_GROUP = _group(
    "CSV_ERRORS", "EH_CSV_E_", "CSV_E_", "u32",
    "CSV error kinds: OffloadResult.detail with EPARSE or EINVAL.", (
        Const("UNTERMINATED", 1, "input ends inside quotes; offset = opening quote",
              "unterminated-quote"),
        Const("QUOTE_IN_UNQUOTED", 2, "strict; offset = the quote", "quote-in-unquoted-field"),
        Const("AFTER_QUOTE", 3, "strict; offset = the byte after the closing quote",
              "unexpected-after-closing-quote"),
        Const("RAGGED", 4, "F_RECT; offset = first byte of the row", "ragged-row"),
        Const("TOO_BIG", 5, "EINVAL: in_len >= 2^31 (csv-fields: value area 2^30)",
              "input-too-large"),
        Const("DIALECT", 6, "EINVAL: bad delimiter/quote", "bad-dialect"),
    ), c_enum="eh_csv_error", name_fn="eh_csv_error_name")

VEC_GROUP = _group("VEC", "EH_VEC_", "VEC_", "u32", "Vector kernel parameters.", (
    ("F64", 1, "flags: the vectors are float64 (default float32)"),
))

VEC_METRIC_GROUP = _group(
    "VEC_METRICS", "EH_VEC_", "VEC_METRIC_", "u32", "vec-topk metrics (arg[1]).", (
        Const("L2SQ", 0, "squared Euclidean distance, smallest first", "l2sq"),
        Const("DOT", 1, "dot product, largest first", "dot"),
        Const("COSINE", 2, "cosine similarity, largest first", "cosine"),
    ), c_enum="eh_vec_metric")

GROUPS: tuple[Group, ...] = (
    ERROR_GROUP, LOG_GROUP, LIMIT_GROUP, KERNEL_GROUP, KSTATUS_GROUP, JSON_GROUP,
    JSON_ERROR_GROUP, JSON_TYPE_GROUP, CSV_GROUP, CSV_ERROR_GROUP, VEC_GROUP, VEC_METRIC_GROUP,
)

# Python views of the groups.
ERRORS = ERROR_GROUP.by_name()                 # {"NOT_FOUND": -1, ...}
LOG_LEVELS = LOG_GROUP.by_label()              # {"debug": 0, ...}
LIMITS = LIMIT_GROUP.by_name()
KERNELS = KERNEL_GROUP.by_label()              # {"crc32c": 1, "csv-index": 2, ...}
KERNEL_NAMES = KERNEL_GROUP.labels()           # {1: "crc32c", ...}
KERNEL_STATUS = KSTATUS_GROUP.by_name()        # {"OK": 0, "EINVAL": -1, ...}
KERNEL_STATUS_TEXT = KSTATUS_GROUP.labels()    # {-1: "invalid arguments", ...}
JSON = JSON_GROUP.by_name()
JSON_ERRORS = JSON_ERROR_GROUP.labels()        # {1: "empty", ...}
JSON_TYPES = JSON_TYPE_GROUP.labels()          # {1: "null", ...}
CSV = CSV_GROUP.by_name()
CSV_ERRORS = CSV_ERROR_GROUP.labels()          # {1: "unterminated-quote", ...}
VEC = VEC_GROUP.by_name()
VEC_METRICS = VEC_METRIC_GROUP.by_label()      # {"l2sq": 0, ...}

Err = enum.IntEnum("Err", ERRORS)
Err.__doc__ = ERROR_GROUP.doc
Kernel = enum.IntEnum("Kernel", KERNEL_GROUP.by_name())
Kernel.__doc__ = KERNEL_GROUP.doc
KStatus = enum.IntEnum("KStatus", KERNEL_STATUS)
KStatus.__doc__ = KSTATUS_GROUP.doc
JsonError = enum.IntEnum("JsonError", JSON_ERROR_GROUP.by_name())
JsonError.__doc__ = JSON_ERROR_GROUP.doc


def kernel_name(kernel_id: int) -> str:
    """The one name of kernel ``kernel_id`` (``kernel 99`` for an unknown id)."""
    return KERNEL_NAMES.get(kernel_id, f"kernel {kernel_id}")


def kernel_suggestion(name: str) -> str | None:
    """The kernel name ``name`` was probably meant as (another spelling), or None."""
    canon = name.strip().lower().replace("_", "-")
    return canon if canon in KERNELS and canon != name else None


# --- imports ----------------------------------------------------------------------

# Parameter and result types of imports: wasm type, C SDK type, Rust type.
TYPES = {
    "i32": ("i", "int32_t", "i32"),
    "u32": ("i", "uint32_t", "u32"),
    "i64": ("I", "int64_t", "i64"),
    "cptr": ("i", "const void *", "*const u8"),   # a range the host reads
    "mptr": ("i", "void *", "*mut u8"),            # a range the host writes
    "req": ("i", "const eh_offload_request *", "*const OffloadRequest"),
    "res": ("i", "eh_offload_result *", "*mut OffloadResult"),
}


@dataclass(frozen=True)
class Import:
    """One ``edgehost.*`` import: ``args`` as ``"name:type, ..."`` (types in
    :data:`TYPES`), ``result`` a type or ``""``; ``c_name`` is the C SDK's
    function (default ``eh_<name>``)."""

    name: str
    args: str
    result: str
    doc: str
    c_name: str | None = None

    @property
    def arg_list(self) -> list[tuple[str, str]]:
        return [tuple(a.strip().split(":")) for a in self.args.split(",") if a.strip()]

    @property
    def params(self) -> str:
        """Wasm parameter types, one char each: 'i' = i32, 'I' = i64."""
        return "".join(TYPES[t][0] for _, t in self.arg_list)

    @property
    def results(self) -> str:
        return TYPES[self.result][0] if self.result else ""

    @property
    def signature(self) -> str:
        """wasmtime-style text, e.g. ``(i32,i32)->i32``."""
        ty = {"i": "i32", "I": "i64"}
        p = ",".join(ty[c] for c in self.params)
        r = ",".join(ty[c] for c in self.results)
        return f"({p})->{r}" if r else f"({p})"


IMPORTS: tuple[Import, ...] = (
    Import("abi_nop", "", "", "Does nothing; the floor of a host call (benchmarks)."),
    Import("log", "level:i32, msg:cptr, len:u32", "",
           "log(level, ptr, len): level 0..4 (debug..fatal); longer than 512 bytes is "
           "truncated; rate-limited per tenant, drops are counted.", c_name="eh_log_raw"),
    Import("time_monotonic_ns", "", "i64", "Monotonic clock, ns."),
    Import("time_wall_ns", "", "i64", "Wall clock, ns since the Unix epoch."),
    Import("random_fill", "buf:mptr, len:u32", "i32",
           "random_fill(ptr, len): cryptographic random bytes; 0."),
    Import("crc32c", "data:cptr, len:u32, seed:u32", "u32",
           "crc32c(ptr, len, seed) -> crc (u32 in i32); honours the tenant's isolation."),
    Import("config_get", "key:cptr, key_len:u32, out:mptr, cap:u32", "i32",
           "config_get(key, key_len, out, cap): the manifest value for key, "
           "msgpack-encoded; copy-out rule; NOT_FOUND."),
    Import("kv_get", "key:cptr, key_len:u32, out:mptr, cap:u32", "i32",
           "kv_get(key, key_len, out, cap): copy-out rule; sees every write committed "
           "before it, by any worker; NOT_FOUND; INVALID for an empty or oversized key; "
           "UNAVAILABLE (see below)."),
    Import("kv_put", "key:cptr, key_len:u32, val:cptr, val_len:u32", "i32",
           "kv_put(key, key_len, val, val_len): 0 once committed (on disk as the "
           "manifest's `durable` says); INVALID for bad sizes; QUOTA when the tenant's kv "
           "budget would be exceeded (nothing changes); UNAVAILABLE."),
    Import("kv_delete", "key:cptr, key_len:u32", "i32",
           "kv_delete(key, key_len): 0 or NOT_FOUND; UNAVAILABLE."),
    Import("request_method", "out:mptr, cap:u32", "i32",
           "request_method(out, cap): copy-out rule."),
    Import("request_path", "out:mptr, cap:u32", "i32", "request_path(out, cap): copy-out rule."),
    Import("request_query", "out:mptr, cap:u32", "i32",
           "request_query(out, cap): raw query string, no '?'."),
    Import("request_header", "name:cptr, name_len:u32, out:mptr, cap:u32", "i32",
           "request_header(name, name_len, out, cap): case-insensitive; copy-out rule; "
           "NOT_FOUND."),
    Import("request_headers", "out:mptr, cap:u32", "i32",
           "request_headers(out, cap): msgpack map str->str."),
    Import("request_body", "out:mptr, cap:u32, offset:u32", "i32",
           "request_body(out, cap, offset): copies from offset; returns bytes remaining "
           "from offset; INVALID if offset > length."),
    Import("response_set_status", "status:i32", "i32",
           "response_set_status(code): 100..599, else INVALID."),
    Import("response_set_header", "name:cptr, name_len:u32, val:cptr, val_len:u32", "i32",
           "response_set_header(name, nlen, val, vlen): INVALID for CR/LF/NUL or a bad "
           "name; QUOTA past 4 KiB of headers."),
    Import("response_set_body", "body:cptr, len:u32", "i32",
           "response_set_body(ptr, len): the response body (read by the host after the "
           "handler returns; last call wins)."),
    Import("offload", "req:req, res:res", "i32",
           "offload(req, res): run a native kernel (OffloadRequest at req, OffloadResult "
           "written at res). 0 when the kernel ran (see res.status); DENIED if the manifest "
           "does not allow it; GUEST_FAULT/TIMEOUT from KVM isolation."),
)

IMPORTS_BY_NAME = {imp.name: imp for imp in IMPORTS}


# --- structs in linear memory ------------------------------------------------------

@dataclass(frozen=True)
class Field:
    name: str
    type: str      # u32 | i32 | u64 | f32 | u64[4] (an array of 4)
    doc: str


@dataclass(frozen=True)
class Struct:
    """A little-endian, padding-free struct in linear memory. ``c_sdk``/``c_host``
    and ``rust`` are its names in the generated files; ``offsets``: fields that
    hold linear-memory offsets (the host rewrites them to host pointers)."""

    c_sdk: str
    c_host: str
    rust: str
    doc: str
    fields: tuple[Field, ...]

    @property
    def format(self) -> str:
        """The :mod:`struct` format of the layout."""
        codes = {"u32": "I", "i32": "i", "u64": "Q", "f32": "f"}
        out = "<"
        for f in self.fields:
            base, _, n = f.type.partition("[")
            out += (n.rstrip("]") if n else "") + codes[base]
        return out

    @property
    def size(self) -> int:
        return struct.calcsize(self.format)

    def pack(self, **values) -> bytes:
        """The struct's bytes; unnamed fields are 0, array fields take a sequence."""
        unknown = set(values) - {f.name for f in self.fields}
        if unknown:
            raise TypeError(f"{self.rust} has no field(s) {sorted(unknown)}")
        flat = []
        for f in self.fields:
            v = values.get(f.name, 0)
            if "[" in f.type:
                n = int(f.type.partition("[")[2].rstrip("]"))
                v = list(v or ()) + [0] * (n - len(v or ()))
                flat.extend(v[:n])
            else:
                flat.append(v)
        return struct.pack(self.format, *flat)

    def unpack(self, data: bytes, offset: int = 0) -> dict:
        vals = list(struct.unpack_from(self.format, data, offset))
        out = {}
        for f in self.fields:
            if "[" in f.type:
                n = int(f.type.partition("[")[2].rstrip("]"))
                out[f.name], vals = tuple(vals[:n]), vals[n:]
            else:
                out[f.name] = vals.pop(0)
        return out


OFFLOAD_REQUEST = Struct(
    "eh_offload_request", "eh_wasm_offload_req", "OffloadRequest",
    "The offload request in linear memory (the offload import's req).", (
        Field("kernel", "u32", "kernel id (EH_KERNEL_*)"),
        Field("flags", "u32", "kernel-specific flags"),
        Field("arg", "u64[4]", "kernel-specific scalars"),
        Field("in", "u32", "primary input (offset in linear memory)"),
        Field("in_len", "u32", "primary input length in bytes"),
        Field("in2", "u32", "secondary input (offset): pointer string, query vector, ..."),
        Field("in2_len", "u32", "secondary input length in bytes"),
        Field("out", "u32", "output buffer (offset)"),
        Field("out_cap", "u32", "output buffer capacity in bytes"),
    ))
OFFLOAD_RESULT = Struct(
    "eh_offload_result", "eh_offload_res", "OffloadResult",
    "The offload result the host writes back (the same layout in every address space).", (
        Field("status", "i32", "kernel status (EH_K_*): 0 ok, negative on error"),
        Field("detail", "u32", "kernel-specific error kind or value type"),
        Field("value", "u64", "scalar result (crc, count, float bits, ...)"),
        Field("out_len", "u64", "bytes written to out (or needed, with ENOSPC)"),
        Field("err_offset", "u64", "byte offset of a parse error (or of a pointer's value)"),
    ))
VEC_TOPK_RECORD = Struct(
    "eh_vec_hit", "eh_vec_topk_rec", "VecHit",
    "One vec-topk output record: a matrix row and its score.", (
        Field("row", "u32", "row index in the matrix"),
        Field("score", "f32", "the row's score under the metric"),
    ))
STRUCTS = (OFFLOAD_REQUEST, OFFLOAD_RESULT, VEC_TOPK_RECORD)

# Kept for callers of the field lists.
OFFLOAD_REQUEST_FIELDS = tuple((f.name, f.type) for f in OFFLOAD_REQUEST.fields)
OFFLOAD_REQUEST_SIZE = OFFLOAD_REQUEST.size
OFFLOAD_RESULT_FIELDS = tuple((f.name, f.type) for f in OFFLOAD_RESULT.fields)
OFFLOAD_RESULT_SIZE = OFFLOAD_RESULT.size

# msgpack shapes of structured values.
MSGPACK_SHAPES = {
    "request_headers": "map<str, str> (names lower-cased)",
    "config_value": "the manifest value as msgpack: nil/bool/int/float/str/array/map",
    "kv_value": "opaque bytes (SDKs offer msgpack helpers)",
    "call_metadata": "map{'tenant': str, 'export': str, 'status': int, 'headers': map<str,str>}",
}
