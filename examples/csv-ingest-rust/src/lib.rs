//! csv-ingest-rust: CSV in, JSON (or msgpack) out. The CSV kernels find and
//! unescape the fields natively; the tenant turns the header row into keys
//! and each further row into one object.
#![no_std]

mod emit;
mod options;

use core::fmt::Write;

use edgehost_sdk::csv::{self, Field, Fields, E_RAGGED, E_UNTERMINATED};
use edgehost_sdk::host;
use edgehost_sdk::msgpack::Encoder;
use edgehost_sdk::scratch::frame;
use edgehost_sdk::text::LineBuf;
use edgehost_sdk::{configure, handler, respond, respond_with, sys, Error, Result};

use options::Options;

configure!(|| -> Result<()> { Options::from_config().map(|_| ()) });

/// A parse error answers 400 with what and where; other errors pass through.
fn parse_error(e: Error) -> Result<()> {
    match e {
        Error::Kernel { status, detail, offset } if status == sys::KSTATUS_EPARSE => {
            let what = match detail {
                E_RAGGED => "row has a different number of fields than the header",
                E_UNTERMINATED => "quoted field is never closed",
                _ => "malformed quoting",
            };
            let mut msg = LineBuf::<160>::new();
            let _ = write!(msg, "CSV error at byte {}: {}", offset, what);
            host::set_status(400)?;
            respond(msg.as_bytes())
        }
        e => Err(e),
    }
}

/// Whether the client asked for msgpack (`accept: application/msgpack`).
fn wants_msgpack() -> bool {
    let mut buf = [0u8; 128];
    match host::request_header("accept", &mut buf) {
        Ok(v) => v.windows(7).any(|w| w == b"msgpack"),
        Err(_) => false,
    }
}

/// A blank line: one empty unquoted field ending its row at column 0.
fn is_blank(col: usize, f: &Field<'_>) -> bool {
    col == 0 && f.row_end && f.value.is_empty() && !f.quoted
}

/// Data rows (blank lines and the header excluded) and header width.
fn shape(fields: &Fields<'_>) -> (usize, usize) {
    let width = fields.iter().position(|f| f.row_end).map_or(0, |i| i + 1);
    let (mut rows, mut col) = (0, 0);
    for f in fields.iter().skip(width) {
        if f.row_end {
            rows += usize::from(!is_blank(col, &f));
            col = 0;
        } else {
            col += 1;
        }
    }
    (rows, width)
}

/// Visits every data field with its header field and column.
fn each_field<'a>(
    fields: &Fields<'a>,
    width: usize,
    mut f: impl FnMut(usize, Field<'a>, Field<'a>) -> Result<()>,
) -> Result<()> {
    let mut header = fields.iter();
    let mut col = 0;
    for field in fields.iter().skip(width) {
        if col == 0 {
            header = fields.iter();
        }
        if !is_blank(col, &field) {
            let h = header.next().ok_or(Error::Invalid)?;
            f(col, h, field)?;
        }
        col = if field.row_end { 0 } else { col + 1 };
    }
    Ok(())
}

fn ingest_json(fields: &Fields<'_>, width: usize, numbers: bool) -> Result<()> {
    host::set_header("content-type", b"application/json")?;
    respond_with(|w| {
        w.push(b"[")?;
        let mut first_row = true;
        each_field(fields, width, |col, h, f| {
            if col == 0 {
                w.push(if first_row { b"{" } else { b",{" })?;
                first_row = false;
            } else {
                w.push(b",")?;
            }
            emit::json_str(w, h.value)?;
            w.push(b":")?;
            emit::json_value(w, f.value, f.quoted, numbers)?;
            if f.row_end {
                w.push(b"}")?;
            }
            Ok(())
        })?;
        w.push(b"]")
    })
}

fn ingest_msgpack(fields: &Fields<'_>, rows: usize, width: usize, numbers: bool) -> Result<()> {
    host::set_header("content-type", b"application/msgpack")?;
    respond_with(|w| {
        let mut e = Encoder::new(w);
        e.array(rows)?;
        each_field(fields, width, |col, h, f| {
            if col == 0 {
                e.map(width)?;
            }
            e.str(core::str::from_utf8(h.value).map_err(|_| Error::Invalid)?)?;
            emit::msgpack_value(&mut e, f.value, f.quoted, numbers)
        })
    })
}

// CSV body -> [{header: value, ...}, ...]; JSON unless `accept` names msgpack.
handler!(ingest, |input: &[u8]| -> Result<()> {
    let opts = Options::from_config()?;
    frame(|s| {
        let fields = match csv::fields_in(s, input, opts.dialect) {
            Ok(f) => f,
            Err(e) => return parse_error(e),
        };
        let (rows, width) = shape(&fields);
        let mut n = LineBuf::<24>::new();
        let _ = write!(n, "{}", rows);
        host::set_header("x-rows", n.as_bytes())?;
        if wants_msgpack() {
            ingest_msgpack(&fields, rows, width, opts.numbers)
        } else {
            ingest_json(&fields, width, opts.numbers)
        }
    })
});

// CSV body -> {"rows": N, "fields": N} counted by the index kernel (no copies).
handler!(count, |input: &[u8]| -> Result<()> {
    let opts = Options::from_config()?;
    frame(|s| {
        let mut dialect = opts.dialect;
        dialect.rectangular = false;
        let out = s.slice::<u32>(input.len() / 2 + 2)?;
        let counts = match csv::index(input, dialect, out) {
            Ok((c, _)) => c,
            Err(e) => return parse_error(e),
        };
        host::set_header("content-type", b"application/json")?;
        respond_with(|w| {
            write!(w, "{{\"rows\":{},\"fields\":{}}}", counts.rows, counts.fields)
                .map_err(|_| Error::OutOfMemory)
        })
    })
});
