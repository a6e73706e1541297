//! The tenant's `[config]`: CSV dialect and output choices.

use edgehost_sdk::csv::Dialect;
use edgehost_sdk::host;
use edgehost_sdk::msgpack::{Decoder, Value};
use edgehost_sdk::{Error, Result};

/// How to read the CSV and what to emit.
pub struct Options {
    /// Delimiter and quoting; rows must be rectangular.
    pub dialect: Dialect,
    /// Unquoted numeric fields become numbers.
    pub numbers: bool,
}

fn config_bool(key: &str, default: bool) -> Result<bool> {
    let mut buf = [0u8; 8];
    match host::config_get(key, &mut buf) {
        Ok(raw) => match Decoder::new(raw).next()? {
            Value::Bool(b) => Ok(b),
            _ => Err(Error::Invalid),
        },
        Err(Error::NotFound) => Ok(default),
        Err(e) => Err(e),
    }
}

impl Options {
    /// Reads and checks the configuration.
    pub fn from_config() -> Result<Options> {
        let mut buf = [0u8; 16];
        let delimiter = match host::config_str("delimiter", &mut buf) {
            Ok(d) if d.len() == 1 => d.as_bytes()[0],
            Ok(_) => return Err(Error::Invalid),
            Err(Error::NotFound) => b',',
            Err(e) => return Err(e),
        };
        let dialect = Dialect {
            delimiter,
            strict: config_bool("strict", false)?,
            rectangular: true,
            ..Dialect::default()
        };
        Ok(Options { dialect, numbers: config_bool("numbers", true)? })
    }
}
