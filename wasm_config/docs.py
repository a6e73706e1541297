"""The ABI and manifest reference in Markdown, generated from
:mod:`edgehost.wasm_config.abi` and :mod:`edgehost.wasm_config.manifest`.

``python -m edgehost.wasm_config.docs`` prints it; sdk/README.md embeds it
between the ``<!-- abi:begin -->`` / ``<!-- abi:end -->`` markers, written by
``python -m edgehost.wasm_config.gen`` and kept current by a test."""

from __future__ import annotations

from edgehost.wasm_config import abi, checks, manifest

BEGIN, END = "<!-- abi:begin -->", "<!-- abi:end -->"


def reference() -> str:
    """Markdown tables: imports, exports, error codes, kernel ids, manifest fields."""
    out = [f"ABI version {abi.ABI_VERSION}; import module `{abi.IMPORT_MODULE}`.", "",
           "| import | type | semantics |", "|---|---|---|"]
    for imp in abi.IMPORTS:
        out.append(f"| `{imp.name}` | `{imp.signature}` | {imp.doc} |")
    out += ["", "| export | type | |", "|---|---|---|"]
    for name, ty in abi.REQUIRED_EXPORTS.items():
        out.append(f"| `{name}` | `{ty}` | required |")
    for name, ty in abi.OPTIONAL_EXPORTS.items():
        out.append(f"| `{name}` | `{ty}` | optional |")
    out.append(f"| *handlers* | `{abi.HANDLER_SIGNATURE}` | every other export of this type |")
    out += ["", "| error | code |", "|---|---|"]
    out += [f"| `{k}` | {v} |" for k, v in abi.ERRORS.items()]
    out += ["", "| kernel (its one name) | id | |", "|---|---|---|"]
    out += [f"| `{c.label}` | {c.value} | {c.doc} |" for c in abi.KERNEL_GROUP.items]
    out += ["", "| kernel status | code | |", "|---|---|---|"]
    out += [f"| `{c.name}` | {c.value} | {c.doc} |" for c in abi.KSTATUS_GROUP.items]
    out += ["", "Manifest (`edgehost.toml`, read with tomllib; every error names the field):",
            "", "| field | meaning |", "|---|---|"]
    out += [f"| `{k}` | {v} |" for k, v in manifest.FIELDS.items()]
    out += ["", "| `[limits]` | default | range | |", "|---|---|---|---|"]
    for k, doc in manifest.LIMIT_DOCS.items():
        lo, hi = manifest.LIMIT_BOUNDS[k]
        out.append(f"| `{k}` | {manifest.LIMIT_DEFAULTS[k]} | {lo}..{hi} | {doc} |")
    out += ["", "| `[[check]]` | meaning |", "|---|---|"]
    out += [f"| `{k}` | {v} |" for k, v in checks.FIELDS.items()]
    return "\n".join(out) + "\n"


def embed(text: str) -> str:
    """``text`` with the section between the markers replaced by :func:`reference`."""
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{reference()}{END}{tail}"


if __name__ == "__main__":
    print(reference(), end="")
