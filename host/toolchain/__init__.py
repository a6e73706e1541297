"""Tenant builds: C and Rust to a validated .wasm, scaffolding, and the toolchains."""
