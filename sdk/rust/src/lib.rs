//! The edgehost tenant SDK for Rust (ABI v1): a `no_std` crate with no
//! dependencies.
//!
//! A tenant is a `#![no_std]` `cdylib` that links this crate; the crate
//! itself provides the required exports (`edgehost_abi_v1`,
//! `edgehost_alloc`) and a panic handler that logs the panic through the
//! `log` import and traps. Handlers are declared with [`handler!`]:
//!
//! ```ignore
//! #![no_std]
//! use edgehost_sdk::{handler, respond, Result};
//!
//! handler!(echo, |input: &[u8]| -> Result<()> { respond(input) });
//! ```
//!
//! Modules: [`sys`] (raw imports and ABI constants), [`host`] (safe
//! wrappers), [`response`], [`msgpack`], [`scratch`] (temporary memory),
//! [`kernel`], [`vector`], [`csv`] and [`json`] (native kernels through `offload`).
#![no_std]
#![warn(missing_docs)]

pub mod csv;
pub mod error;
pub mod handler;
pub mod host;
pub mod json;
pub mod kernel;
mod mem;
pub mod msgpack;
mod panic;
pub mod response;
pub mod scratch;
pub mod sys;
pub mod text;
pub mod vector;

pub use error::{Error, Result};
pub use host::Level;
pub use response::{respond, respond_with};

use mem::{Global, Region};

/// The buffer the host writes each call's input into.
static INPUT: Global<Region> = Global::new(Region::new());

/// ABI marker export: this module speaks edgehost ABI v1.
#[no_mangle]
pub extern "C" fn edgehost_abi_v1() {}

/// ABI export: a buffer of at least `size` bytes for the host to write a
/// call's input into (0 when memory cannot grow). The same buffer is reused
/// until a larger one is needed.
#[no_mangle]
pub extern "C" fn edgehost_alloc(size: i32) -> i32 {
    let size = (size as u32 as usize).max(1);
    let ptr = INPUT.with(|r| if r.reserve(size) { r.ptr() as usize } else { 0 });
    ptr as i32
}
