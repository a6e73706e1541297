"""ABI validation: one good module and each kind of bad one, as WAT."""

import pytest
import wasmtime

from edgehost.errors import ConfigError
from edgehost.wasm_config import validate

GOOD_EXPORTS = """
  (memory (export "memory") 1)
  (func (export "edgehost_abi_v1"))
  (func (export "edgehost_alloc") (param i32) (result i32) i32.const 0)
"""
ENGINE = wasmtime.Engine()


def check(body: str):
    return validate.check_module(wasmtime.Module(ENGINE, f"(module {body})"), where="t.wasm")


def test_good_module_lists_handlers():
    body = """(import "edgehost" "log" (func (param i32 i32 i32)))""" + GOOD_EXPORTS + """
      (func (export "b") (param i32 i32) (result i32) i32.const 0)
      (func (export "a") (param i32 i32) (result i32) i32.const 0)
      (func (export "not_a_handler") (param i32) (result i32) i32.const 0)
      (func (export "edgehost_configure") (result i32) i32.const 0)"""
    assert check(body) == ["a", "b"]


@pytest.mark.parametrize("body, needle", [
    ('(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))'
     + GOOD_EXPORTS, "unknown import wasi_snapshot_preview1.fd_write"),
    ('(import "edgehost" "launch_missiles" (func))' + GOOD_EXPORTS,
     "unknown import edgehost.launch_missiles"),
    ('(import "edgehost" "log" (func (param i32 i32)))' + GOOD_EXPORTS,
     "import edgehost.log has type (i32,i32), ABI says (i32,i32,i32)"),
    ('(import "edgehost" "log" (global i32))' + GOOD_EXPORTS, "must be a function"),
    ('(memory (export "memory") 1) (func (export "edgehost_alloc") (param i32) (result i32) '
     'i32.const 0)', "missing export edgehost_abi_v1"),
    ('(memory (export "memory") 1) (func (export "edgehost_abi_v2"))', "targets ABI v2"),
    ('(memory 1) (func (export "edgehost_abi_v1")) (func (export "edgehost_alloc") '
     '(param i32) (result i32) i32.const 0)', "missing required export 'memory'"),
    ('(memory (export "memory") 1) (func (export "edgehost_abi_v1"))',
     "missing required export 'edgehost_alloc'"),
    ('(memory (export "memory") 1) (func (export "edgehost_abi_v1")) '
     '(func (export "edgehost_alloc") (param i64) (result i32) i32.const 0)',
     "'edgehost_alloc' must have type (i32)->i32"),
    (GOOD_EXPORTS + '(func (export "edgehost_configure") (param i32) (result i32) i32.const 0)',
     "'edgehost_configure' must have type ()->i32"),
])
def test_bad_modules_name_the_offender(body, needle):
    with pytest.raises(ConfigError) as ei:
        check(body)
    assert needle in str(ei.value)
    assert "t.wasm" in str(ei.value)
