"""The runtime: the shared wasmtime engine, loaded tenants and their instances."""
