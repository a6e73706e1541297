//! The CSV kernels (conventions in native_modules/kernels/csv/csv.h):
//! [`index`] finds field boundaries without copying, [`fields`] also
//! unescapes quoted values into one value area.

use crate::error::{Error, Result};
use crate::kernel::{run, Call, Kernel};
use crate::scratch::Scratch;

use crate::sys::{CSV_F_RECT as F_RECT, CSV_F_STRICT as F_STRICT};
/// Entry bit: the field ends its row.
pub const ROW_END: u32 = crate::sys::CSV_ROW_END;
/// Entry bit: the field was quoted.
pub const QUOTED: u32 = crate::sys::CSV_QUOTED;
/// Entry bits holding the end offset.
pub const OFFSET_MASK: u32 = crate::sys::CSV_OFFSET_MASK;
/// `Error::Kernel` detail: every row must have as many fields as the first.
pub const E_RAGGED: u32 = crate::sys::CSV_E_RAGGED;
/// `Error::Kernel` detail: the input ends inside quotes.
pub const E_UNTERMINATED: u32 = crate::sys::CSV_E_UNTERMINATED;

/// How the CSV is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dialect {
    /// Field separator (default `,`).
    pub delimiter: u8,
    /// Quote character (default `"`).
    pub quote: u8,
    /// RFC 4180 quoting only (else Python `csv`-like leniency).
    pub strict: bool,
    /// Every row must have as many fields as the first (else a parse error).
    pub rectangular: bool,
}

impl Default for Dialect {
    fn default() -> Self {
        Dialect { delimiter: b',', quote: b'"', strict: false, rectangular: false }
    }
}

impl Dialect {
    fn call(&self, kernel: Kernel) -> Call {
        let mut call = Call::new(kernel);
        call.arg[0] = u64::from(self.delimiter);
        call.arg[1] = u64::from(self.quote);
        call.flags =
            if self.strict { F_STRICT } else { 0 } | if self.rectangular { F_RECT } else { 0 };
        call
    }
}

fn u32_bytes(v: &mut [u32]) -> &mut [u8] {
    // SAFETY: u32 has no padding; u8 has alignment 1.
    unsafe { core::slice::from_raw_parts_mut(v.as_mut_ptr() as *mut u8, v.len() * 4) }
}

/// Field and row counts of an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    /// Fields in the input.
    pub fields: usize,
    /// Rows in the input.
    pub rows: usize,
}

fn counts(value: u64) -> Counts {
    Counts { fields: (value & 0xffff_ffff) as usize, rows: (value >> 32) as usize }
}

/// Indexes `input`: one entry per field, the offset of the separator that
/// ends it (see csv.h). Returns the counts and the filled entries.
pub fn index<'o>(
    input: &[u8],
    dialect: Dialect,
    out: &'o mut [u32],
) -> Result<(Counts, &'o [u32])> {
    let o = run(dialect.call(Kernel::CsvIndex), input, &[], u32_bytes(out))?;
    let c = counts(o.value);
    Ok((c, &out[..c.fields]))
}

/// Unescaped fields of a CSV input (see [`fields`]).
pub struct Fields<'o> {
    entries: &'o [u32],
    values: &'o [u8],
    /// Rows in the input.
    pub rows: usize,
}

/// One field of [`Fields`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field<'o> {
    /// The unescaped value.
    pub value: &'o [u8],
    /// Whether the field ends its row.
    pub row_end: bool,
    /// Whether the field was quoted.
    pub quoted: bool,
}

impl<'o> Fields<'o> {
    /// Number of fields.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the input had no fields.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The fields in input order.
    pub fn iter(&self) -> impl Iterator<Item = Field<'o>> + '_ {
        let values = self.values;
        let mut start = 0usize;
        self.entries.iter().map(move |&e| {
            let end = (e & OFFSET_MASK) as usize;
            let f = Field {
                value: &values[start..end],
                row_end: e & ROW_END != 0,
                quoted: e & QUOTED != 0,
            };
            start = end;
            f
        })
    }
}

/// Splits `input` into unescaped fields, using `out` for the entries and the
/// value area (it needs `fields + ceil(input.len() / 4)` entries; too few is
/// [`Error::TooSmall`] with the bytes needed).
pub fn fields<'o>(input: &[u8], dialect: Dialect, out: &'o mut [u32]) -> Result<Fields<'o>> {
    let o = run(dialect.call(Kernel::CsvFields), input, &[], u32_bytes(out))?;
    let c = counts(o.value);
    let bytes: &'o [u8] = u32_bytes(out);
    let area = bytes.get(c.fields * 4..).ok_or(Error::Invalid)?;
    // SAFETY: the entries are the first c.fields u32s of the same buffer.
    let entries = unsafe { core::slice::from_raw_parts(bytes.as_ptr() as *const u32, c.fields) };
    if entries.iter().any(|&e| (e & OFFSET_MASK) as usize > area.len()) {
        return Err(Error::Invalid);
    }
    Ok(Fields { entries, values: area, rows: c.rows })
}

/// [`fields`] with a buffer from scratch memory, sized by the kernel.
pub fn fields_in<'s>(s: &'s Scratch, input: &[u8], dialect: Dialect) -> Result<Fields<'s>> {
    let mut words = input.len() / 4 + input.len() / 16 + 16;
    loop {
        let out = s.slice::<u32>(words)?;
        // The first attempt guesses; a short one reports the exact size.
        match fields(input, dialect, out) {
            Err(Error::TooSmall { needed }) if needed > words * 4 => words = (needed + 3) / 4,
            r => return r,
        }
    }
}
