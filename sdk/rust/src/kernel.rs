//! Native kernels through the `offload` import. [`run`] is the general door;
//! [`crate::vector`] and [`crate::csv`] wrap the kernel families' conventions.
//! Kernels run under the tenant's isolation (in process or in its KVM guest)
//! and must be listed in the manifest's `kernels` (else [`Error::Denied`]).

use crate::error::{Error, Result};
use crate::sys::{self, OffloadRequest, OffloadResult};

/// The kernel ids of the ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Kernel {
    /// Does nothing (latency probe).
    Nop = sys::KERNEL_NOP,
    /// CRC32C, `arg[0]` = seed, value = crc.
    Crc32c = sys::KERNEL_CRC32C,
    /// CSV field index ([`crate::csv::index`]).
    CsvIndex = sys::KERNEL_CSV_INDEX,
    /// CSV unescaped fields ([`crate::csv::fields`]).
    CsvFields = sys::KERNEL_CSV_FIELDS,
    /// JSON validation.
    JsonValidate = sys::KERNEL_JSON_VALIDATE,
    /// JSON minification.
    JsonMinify = sys::KERNEL_JSON_MINIFY,
    /// JSON Pointer extraction (`in2` = pointer).
    JsonPointer = sys::KERNEL_JSON_POINTER,
    /// Dot product.
    VecDot = sys::KERNEL_VEC_DOT,
    /// `alpha * x + y`.
    VecAxpy = sys::KERNEL_VEC_AXPY,
    /// Sum.
    VecSum = sys::KERNEL_VEC_SUM,
    /// Euclidean norm.
    VecL2Norm = sys::KERNEL_VEC_L2NORM,
    /// Squared Euclidean distance.
    VecL2Sq = sys::KERNEL_VEC_L2SQ,
    /// Cosine similarity.
    VecCosine = sys::KERNEL_VEC_COSINE,
    /// Matrix-vector product.
    VecMatvec = sys::KERNEL_VEC_MATVEC,
    /// Top-k rows.
    VecTopk = sys::KERNEL_VEC_TOPK,
    /// STREAM bandwidth (benchmarks).
    Stream = sys::KERNEL_STREAM,
}

/// One kernel call: the request fields besides the buffers.
#[derive(Clone, Copy, Debug)]
pub struct Call {
    /// Which kernel.
    pub kernel: Kernel,
    /// Kernel-specific flags.
    pub flags: u32,
    /// Kernel-specific scalars.
    pub arg: [u64; 4],
}

impl Call {
    /// A call of `kernel` with no flags and zero arguments.
    pub fn new(kernel: Kernel) -> Self {
        Call { kernel, flags: 0, arg: [0; 4] }
    }
}

/// What a successful kernel call returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Output {
    /// The scalar result (crc, count, float bits, ...).
    pub value: u64,
    /// Bytes written to the output buffer.
    pub out_len: usize,
    /// Kernel-specific detail (e.g. the JSON type a pointer found).
    pub detail: u32,
    /// Kernel-specific offset (e.g. where a JSON pointer's value starts).
    pub offset: u64,
}

fn addr(s: &[u8]) -> u32 {
    if s.is_empty() {
        0
    } else {
        s.as_ptr() as usize as u32
    }
}

/// Runs `call` on `input` (and `input2`), writing into `out`.
///
/// Host refusals map through [`Error::from_code`]; a kernel status other
/// than OK is [`Error::Kernel`], except too small an `out`, which is
/// [`Error::TooSmall`] with the bytes needed.
pub fn run(call: Call, input: &[u8], input2: &[u8], out: &mut [u8]) -> Result<Output> {
    let req = OffloadRequest {
        kernel: call.kernel as u32,
        flags: call.flags,
        arg: call.arg,
        r#in: addr(input),
        in_len: input.len() as u32,
        in2: addr(input2),
        in2_len: input2.len() as u32,
        out: addr(out),
        out_cap: out.len() as u32,
    };
    let mut res = OffloadResult::default();
    // SAFETY: every range in req is a live slice; res is ours.
    let rc = unsafe { sys::offload(&req, &mut res) };
    if rc < 0 {
        return Err(Error::from_code(rc));
    }
    match res.status {
        sys::KSTATUS_OK => Ok(Output {
            value: res.value,
            out_len: res.out_len as usize,
            detail: res.detail,
            offset: res.err_offset,
        }),
        sys::KSTATUS_ENOSPC => Err(Error::TooSmall { needed: res.out_len as usize }),
        status => Err(Error::Kernel { status, detail: res.detail, offset: res.err_offset }),
    }
}

/// The no-op kernel: the round-trip cost of an offload.
pub fn nop() -> Result<()> {
    run(Call::new(Kernel::Nop), &[], &[], &mut []).map(|_| ())
}

/// CRC32C of `data` from `seed` by the CRC32C kernel.
pub fn crc32c(data: &[u8], seed: u32) -> Result<u32> {
    let mut call = Call::new(Kernel::Crc32c);
    call.arg[0] = u64::from(seed);
    run(call, data, &[], &mut []).map(|o| o.value as u32)
}
