"""The CLI imports a command's module only when the command runs: its tables
must name every command, and a command must not pay for the others."""

import importlib
import pkgutil
import subprocess
import sys

import click

from edgehost import bench

# edgehost.cli re-exports the entry point as `main`: the module by its full name
main = importlib.import_module("edgehost.cli.main")


def _defined_in(module: str) -> set[str]:
    """Top-level commands defined in ``module`` (not the subcommands of its groups)."""
    mod = importlib.import_module(module)
    cmds = [o for o in vars(mod).values()
            if isinstance(o, click.Command) and o.callback.__module__ == module]
    subs = {id(c) for g in cmds if isinstance(g, click.Group) for c in g.commands.values()}
    return {c.name for c in cmds if id(c) not in subs}


def test_every_command_of_the_cli_modules_is_in_the_table():
    for module in set(main.COMMAND_MODULES.values()):
        for name in _defined_in(module):
            assert main.COMMAND_MODULES.get(name) == module, (name, module)


def test_every_name_in_the_table_resolves():
    ctx = click.Context(main.cli)
    for name in main.COMMAND_MODULES:
        cmd = main.cli.get_command(ctx, name)
        assert cmd is not None and cmd.name == name


def test_every_bench_module_with_a_command_is_reachable_by_its_name():
    names = {c.name for c in bench.commands()}
    assert {"all", "crc32c", "serve", "serve-abuse"} <= names
    for info in pkgutil.iter_modules(bench.__path__):
        cmd = getattr(importlib.import_module(f"edgehost.bench.{info.name}"), "command", None)
        if cmd is not None and not info.name.startswith("_"):
            assert bench.command_named(cmd.name) is cmd
    for helper in ("machine", "common", "plot", "_kernelbench", "nosuch"):
        assert bench.command_named(helper) is None


def test_one_command_does_not_import_the_others():
    code = ("import importlib, sys\nmain = importlib.import_module('edgehost.cli.main')\n"
            "try:\n    main.main(['bench', 'crc32c', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('edgehost.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    loaded = out.strip().splitlines()[-1]
    for other in ("edgehost.bench.serve", "edgehost.serving", "edgehost.cli.serve",
                  "edgehost.bench.reload"):
        assert f"'{other}'" not in loaded, other
