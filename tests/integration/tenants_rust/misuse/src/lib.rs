//! A Rust tenant that misuses the host API on purpose: raw imports with wild
//! pointers must trap clearly, oversized or forbidden requests must come back
//! as errors, and panics must trap after logging; the host keeps serving.
#![no_std]

use edgehost_sdk::kernel::{self, Call, Kernel};
use edgehost_sdk::scratch::frame;
use edgehost_sdk::sys::{self, OffloadRequest, OffloadResult};
use edgehost_sdk::{handler, host, respond, Error, Result};

/// An address far past the end of linear memory.
const WILD: usize = 0xffff_f000;

handler!(wild_log, |_i: &[u8]| {
    // SAFETY: deliberately not; the host must trap the call.
    unsafe { sys::log(sys::LOG_INFO, WILD as *const u8, 64) };
});

handler!(wild_body, |_i: &[u8]| -> i32 {
    // SAFETY: deliberately not.
    unsafe { sys::response_set_body(WILD as *const u8, 0x2000) }
});

handler!(wrapping_len, |input: &[u8]| -> i32 {
    // ptr + len overflows 32 bits: must not wrap into valid memory.
    // SAFETY: deliberately not.
    unsafe { sys::crc32c(input.as_ptr(), u32::MAX, 0) as i32 }
});

handler!(kv_get_into_wild, |_i: &[u8]| -> Result<i32> {
    host::kv_put(b"k", b"v")?;
    // SAFETY: deliberately not.
    Ok(unsafe { sys::kv_get(b"k".as_ptr(), 1, WILD as *mut u8, 16) })
});

handler!(offload_wild_out, |input: &[u8]| -> i32 {
    let req = OffloadRequest {
        kernel: sys::KERNEL_CRC32C,
        r#in: input.as_ptr() as u32,
        in_len: input.len() as u32,
        out: WILD as u32,
        out_cap: 0x2000,
        ..OffloadRequest::default()
    };
    let mut res = OffloadResult::default();
    // SAFETY: deliberately not.
    unsafe { sys::offload(&req, &mut res) }
});

// A 1 MiB value over kv_max_value: refused with Invalid, nothing stored.
handler!(oversized_kv, |_i: &[u8]| -> Result<()> {
    frame(|s| {
        let big = s.bytes(1 << 20)?;
        match host::kv_put(b"big", big) {
            Err(Error::Invalid) => respond(b"refused: invalid"),
            Err(e) => Err(e),
            Ok(()) => respond(b"stored"),
        }
    })
});

// A kernel the manifest does not list: Denied (403 through the handler).
handler!(denied_kernel, |input: &[u8]| -> Result<()> {
    kernel::run(Call::new(Kernel::VecSum), input, &[], &mut [])?;
    respond(b"ran")
});

handler!(panics, |input: &[u8]| -> Result<()> {
    if input.len() < 1000 {
        panic!("deliberate panic with {} input bytes", input.len());
    }
    Ok(())
});

// Safe Rust indexing out of bounds: a panic, hence a trap with a log line.
handler!(index_oob, |input: &[u8]| -> i32 { i32::from(input[input.len() + 5]) });

handler!(ok, |_i: &[u8]| -> Result<()> { respond(b"still serving") });

// More scratch than the manifest's memory cap: OutOfMemory, not a trap.
handler!(huge_scratch, |_i: &[u8]| -> Result<()> {
    frame(|s| {
        s.bytes(512 << 20)?;
        respond(b"allocated")
    })
});
