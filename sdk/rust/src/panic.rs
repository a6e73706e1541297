//! The panic handler: one fatal log line with the message and location,
//! then a trap (the host reports the call as a `TenantTrap`).

use core::fmt::Write;
use core::panic::PanicInfo;

use crate::host::{self, Level};
use crate::text::LineBuf;

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    let mut line = LineBuf::<512>::new();
    let _ = write!(line, "{}", info);
    host::log(Level::Fatal, line.as_str());
    core::arch::wasm32::unreachable()
}
