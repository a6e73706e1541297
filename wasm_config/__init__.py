"""The edgehost tenant contract, independent of the runtime it constrains.

- :mod:`.abi`: the ABI, declared once (imports, exports, constants, structs);
- :mod:`.gen`: writes every other copy of it (C headers, Rust sys.rs, docs);
- :mod:`.manifest`: ``edgehost.toml``, validated at load time;
- :mod:`.validate`: checks a compiled module against the ABI;
- :mod:`.docs`: the reference tables embedded in sdk/README.md;
- :mod:`.errors`: the root of edgehost's typed errors and ConfigError.
"""
