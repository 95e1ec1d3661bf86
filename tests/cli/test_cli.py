"""The command line, run as a user would run it: a subprocess."""

import argparse
import dataclasses
import subprocess
import sys
import typing

import pytest
from cli_support import run_cli

import longwire
from longwire import cli
from longwire.aio import ServerConfig, WebSocketOptions, make_config


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"longwire {longwire.__version__}"


def test_help_shows_commands_and_examples():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "demo" in result.stdout
    assert "examples:" in result.stdout


def test_demo_round_trips_over_loopback():
    result = run_cli("demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "HTTP/1.1 101 Switching Protocols" in out
    assert "Sec-WebSocket-Accept:" in out
    assert "Sec-WebSocket-Extensions: permessage-deflate" in out
    assert "close echoed: 1000 'demo done'" in out
    assert "all round-tripped" in out


def test_unknown_command_is_one_error_line_and_exit_2():
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert "invalid choice: 'frobnicate'" in result.stderr


def test_version_and_demo_do_not_load_the_server():
    code = (
        "import sys\n"
        "from longwire.cli import main\n"
        "try:\n"
        "    main(['--version'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('asyncio' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.splitlines()[-1] == "False", result.stderr


def test_help_lists_serve():
    result = run_cli("--help")
    assert "serve" in result.stdout
    assert "longwire serve myapp:app" in result.stdout


# `longwire serve` options, derived from the config dataclasses (in-process).

SCALAR_TYPES = (int, float, bool, int | None, float | None)


def parse_serve(*args: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(["serve", *args])


def test_every_scalar_config_field_is_an_option_and_nothing_else():
    scalar = {
        name
        for cls in (ServerConfig, WebSocketOptions)
        for name, hint in typing.get_type_hints(cls).items()
        if hint in SCALAR_TYPES
    }
    assert {"header_timeout", "ping_interval", "max_message_size", "access_log"} <= scalar
    options = {option.name for option in cli.server_options()}
    assert options == scalar
    # Not scalars: set through their own options (--tls-cert) or not at all.
    assert not options & {"ssl", "http_limits", "websocket", "compression"}


def test_option_help_comes_from_the_docstring_and_the_default_from_the_field():
    options = {option.name: option for option in cli.server_options()}
    header = options["header_timeout"]
    assert header.flag == "--header-timeout"
    assert "slowloris" in header.help
    assert "Default" not in header.help  # the docstring's sentence gives way to the real value
    assert header.default == ServerConfig().header_timeout
    assert options["ping_interval"].nullable
    assert options["ping_interval"].default == WebSocketOptions().ping_interval
    assert not options["close_timeout"].nullable
    # In both dataclasses: one option, both descriptions.
    assert "WebSockets" in options["write_limit"].help


def test_derive_options_reads_metadata_and_skips_non_scalars():
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Settings:
        """Test settings.

        Attributes:
            retries: how many times to retry,
                at most. Default 3.
            name: not a scalar field.
        """

        retries: int = 3
        delay: float | None = dataclasses.field(default=None, metadata={"help": "pause"})
        name: str = "x"
        tags: list[int] = dataclasses.field(default_factory=list)

    options = {option.name: option for option in cli.derive_options([(Settings, "g")])}
    assert set(options) == {"retries", "delay"}
    assert options["retries"].help == "how many times to retry, at most"
    assert (options["retries"].kind, options["retries"].nullable) == (int, False)
    assert options["delay"].help == "pause"
    assert (options["delay"].kind, options["delay"].nullable) == (float, True)


def test_given_options_become_the_config():
    args = parse_serve(
        "--max-connections", "none", "--ping-interval", "5", "--ping-timeout", "NONE",
        "--no-access-log", "--write-limit", "1000", "--header-timeout", "2.5",
        "--max-message-size", "4096",
    )
    options = cli.config_options(args)
    assert options == {
        "max_connections": None, "ping_interval": 5.0, "ping_timeout": None,
        "access_log": False, "write_limit": 1000, "header_timeout": 2.5,
        "max_message_size": 4096,
    }
    config = make_config(**options)
    assert config.max_connections is None
    assert config.access_log is False
    assert config.header_timeout == 2.5
    assert config.write_limit == config.websocket.write_limit == 1000
    assert config.websocket.ping_interval == 5.0
    assert config.websocket.ping_timeout is None
    assert config.websocket.max_message_size == 4096


def test_options_not_given_leave_the_defaults():
    args = parse_serve()
    assert cli.config_options(args) == {}
    assert (args.host, args.port, args.app, args.uvloop) == ("127.0.0.1", 8000, None, None)
    assert args.log_level == "info"


@pytest.mark.parametrize(
    "args",
    [
        ("--ping-interval", "soon"),
        ("--ping-interval", "nan"),
        ("--close-timeout", "none"),  # not nullable
        ("--max-queue", "1.5"),
        ("--port", "65536"),
        ("--log-level", "loud"),
    ],
)
def test_bad_values_are_usage_errors(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_serve(*args)
    assert exit_.value.code == 2
    assert f"argument {args[0]}" in capsys.readouterr().err


def test_field_validation_names_the_option(capsys):
    assert cli.main(["serve", "--keep-alive-timeout", "-1"]) == 1
    assert capsys.readouterr().err == (
        "longwire serve: error: --keep-alive-timeout must be positive\n"
    )


def test_load_app_errors_are_usage_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "cli_app_module.py").write_text("import longwire\napp = longwire.App()\n")
    assert isinstance(cli.load_app("cli_app_module:app"), longwire.App)
    for spec in (
        "cli_app_module", ":app", "cli_app_module:", "nope_module:app",
        "cli_app_module:nope", "cli_app_module:longwire",
    ):
        with pytest.raises(longwire.LongwireError):
            cli.load_app(spec)


# Logging, shared by every command.


def test_json_formatter_carries_extra_fields_and_exceptions():
    import json
    import logging

    from longwire.cli._common import JSONFormatter

    formatter = JSONFormatter()
    record = logging.makeLogRecord(
        {"name": "longwire.x", "levelname": "WARNING", "msg": "%d done", "args": (3,),
         "created": 0.25, "status": 201}
    )
    assert json.loads(formatter.format(record)) == {
        "time": "1970-01-01T00:00:00.250Z", "level": "warning", "logger": "longwire.x",
        "message": "3 done", "status": 201,
    }
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        import sys

        failed = logging.makeLogRecord({"msg": "oops", "exc_info": sys.exc_info()})
    entry = json.loads(formatter.format(failed))
    assert entry["exception"].endswith("ValueError: bad\nthing")  # multi-line text, one JSON line
    assert "\n" not in formatter.format(failed)


@pytest.mark.parametrize("command", ["serve", "exec", "connect", "demo"])
def test_every_command_takes_the_logging_options(command):
    result = run_cli(command, "--help")
    assert result.returncode == 0
    assert "--log-level" in result.stdout
    assert "--json-logs" in result.stdout


@pytest.mark.parametrize(
    ("command", "rest"),
    [("serve", []), ("exec", ["--", "cat"]), ("connect", ["ws://127.0.0.1:9/"]), ("demo", [])],
)
def test_an_unknown_option_is_reported_by_the_command(command, rest):
    result = run_cli(command, "--no-such-option", *rest)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"longwire {command}: error: unrecognized arguments: --no-such-option"
    )
    assert result.stderr.startswith(f"usage: longwire {command} ")
