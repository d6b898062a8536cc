"""Settings: the one place defaults live.

Sources, later wins: defaults < config file (YAML) < ``FAKEAI_*`` environment < CLI flags. Each
source gives a partial mapping; :func:`Settings.merge` validates names and types with a hint.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import orjson

from fakeai.errors import ConfigError, closest

log = logging.getLogger("fakeai.config")

VALIDATION_PROFILES = ("strict", "permissive", "off")
RESPONSE_CHECKS = ("off", "log", "strict")
GENERATION_MODES = ("lorem", "echo", "fixed")
UNKNOWN_IDS = ("well-formed", "404")
MODEL_BACKENDS = (None, "llamacpp")  # a real model answers the LLM producers (fakeai.producers.text.backend)
STATE_BACKENDS = (None, "none")  # and redis:// URLs (fakeai.state): one Valkey/Redis shared by every worker


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of a running fakeai. Field docs are shown by ``fakeai --help``."""

    # OpenAPI 3.0/3.1 file(s) or named specs (openai, anthropic, azure, groq, ..., avs://openai/groq); several
    # specs are served on one server; None = the official OpenAI spec
    spec: str | tuple[str, ...] | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    seed: int = 0  # global seed mixed into every request's RNG
    log_level: str = "info"
    base_paths: tuple[str, ...] | None = None  # serve the API under each prefix; None = servers[0] path and ""
    api_keys: tuple[str, ...] = ()  # when set, other bearer tokens get 401
    max_body_bytes: int = 64 * 1024 * 1024  # larger request bodies get 413
    max_json_depth: int = 128  # JSON bodies nested deeper get 400 (validators and the seed recurse per level)
    max_prompt_chars: int = 4_000_000  # model-like requests with more text get 400 before tokenizing (~1M tokens)
    max_image_pixels: int = 3840 * 2160  # GET /_fakeai/images/... larger get 400 (gpt-image-2's largest size)
    max_headers: int = 100  # requests with more headers get 431 (SDKs send ~15)
    max_header_bytes: int = 64 * 1024  # requests with more header bytes get 431 (browsers cap cookies near 8 KiB)
    keep_alive_timeout: float = 5.0  # seconds an idle keep-alive connection stays open (fakeai serve)
    # serve with h11 plus fakeai.limits' guards (431 before a huge head is buffered, header_read_timeout) instead of
    # httptools; costs about half the throughput (measured: 1,652 vs ~3,500 req/s, wrk -c10, 100-token chats)
    http_guard: bool = False
    header_read_timeout: float = 10.0  # seconds a request head may take to arrive, else the connection closes
    body_read_timeout: float = 30.0  # seconds between two chunks of a request body, else 408
    validation: str = "strict"  # strict | permissive | off
    validate_responses: str = "off"  # off | log | strict (strict records violations for tests)
    fixtures: str | None = None  # directory of Jinja templates by operationId (default: bundled fixtures/)
    template_timeout_ms: int = 50  # a fixture/scenario template rendering longer answers 500 (the loop stays free)
    template_max_bytes: int = 1024 * 1024  # a template rendering more answers 500
    use_examples: bool = True  # answer with the spec's own x-oaiMeta example when it validates
    scenarios: tuple[str, ...] = ()  # scenario YAML files
    replay_strict: bool = False  # a request no scenario rule matches gets 404 instead of generated data
    fixed_time: float | None = None  # freeze the clock (unix seconds) for byte-identical answers
    workers: int = 1
    # where state that must be shared lives: None = this process (one worker); "none" = every worker keeps its
    # own (explicit: for pure load tests, where conversations, uploads and the journal may split);
    # "redis://host:port/db" = one Valkey/Redis for every worker and replica (fakeai.state)
    state: str | None = None
    # model-like behaviour (generative endpoints)
    mode: str = "lorem"  # lorem | echo | fixed
    fixed_text: str = "This is a fixed response from fakeai."
    output_length: str = "120:40:1:2048"  # MEAN[:STDDEV[:MIN[:MAX]]] in tokens
    ttft: str = "0"  # time to first token, MS[:PCT spread]
    itl: str = "0"  # inter-token latency, MS[:PCT spread]
    latency_models: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # glob -> {ttft, itl}
    tokens_per_chunk: int = 1
    simulators: tuple[str, ...] = ("latency", "kv_cache", "gpu")  # in chain order; options in extra.<name>
    reasoning_models: tuple[str, ...] = ("o1*", "o3*", "o4*", "gpt-5*", "*-reasoning", "*deepseek-r1*")
    tokenizer_json: str | None = None  # a Hugging Face tokenizer.json to count tokens with instead of tiktoken
    # a real small model answers chat/completions/Responses for the models matching backend_models (the others
    # stay synthetic): "llamacpp" loads model_path (a GGUF file) once at startup (needs fakeai-server[llm])
    model_backend: str | None = None
    model_path: str | None = None
    backend_models: tuple[str, ...] = ("*",)  # model globs the backend answers
    moderation_words: tuple[str, ...] = ("kill", "bomb", "hate", "attack", "suicide")
    config_file: str | None = None
    journal_size: int = 10_000  # requests the journal keeps (GET /_fakeai/journal); oldest dropped first
    journal_body_bytes: int = 16 * 1024  # larger request/response bodies are journaled as a preview
    journal_max_bytes: int = 64 * 1024 * 1024  # the journal's memory budget (estimated); oldest dropped first
    store_max_items: int = 10_000  # resources clients created (files, batches, stored Responses...): oldest go
    store_max_bytes: int = 256 * 1024 * 1024  # first; bytes count payloads and bodies' JSON (fakeai.store)
    reload_scenarios: bool = True  # poll scenario files and hot-reload edits (keeps the old one if invalid)
    # resource model: extra declaration files (lifecycles, links), lifecycle speed (0 = instant), and whether an
    # unknown id is always a 404 ("404") or only when this server could have issued it ("well-formed")
    resources: tuple[str, ...] = ()
    lifecycle_scale: float = 1.0
    unknown_ids: str = "well-formed"
    extra: Mapping[str, Any] = field(default_factory=dict)  # plugin settings, free-form
    models: tuple[str, ...] = ()  # extra model catalog files (spec/models.yaml shape), after the bundled one
    strict_models: bool = False  # a model outside the catalog is OpenAI's 404 model_not_found
    bindings: tuple[str, ...] = ()  # extra bindings files (spec/bindings/*.yaml shape), after the bundled ones
    # load the default vocabulary (o200k_base, ~45 MiB) in the background at startup, not with the first request
    # that needs it (that request then waits ~0.3 s for it, off the event loop)
    preload_tokenizers: bool = False
    gc_freeze: bool = True  # after startup, freeze the heap and raise gc thresholds (fakeai.gctune: no GC stalls)
    metrics_auth: bool = False  # GET /metrics (and /_fakeai/metrics) need the API key too; scrapers have none
    metrics_port: int | None = None  # also serve GET /metrics on this port (fakeai.metrics_listener)

    def merge(self, changes: Mapping[str, Any], source: str) -> Settings:
        """A copy with ``changes`` applied; unknown names and bad values raise ConfigError."""
        known = {f.name: f for f in fields(self)}
        converted: dict[str, Any] = {}
        for name, value in changes.items():
            key = name.replace("-", "_")
            if key not in known:
                raise ConfigError(f"{source}: unknown setting {name!r}{closest(key, known)}")
            converted[key] = _convert(key, value, getattr(self, key), source)
        merged = dataclasses.replace(self, **converted)
        merged.check(source)
        return merged

    @property
    def specs(self) -> tuple[str, ...]:
        """The specs to serve, in order (first wins a route two specs both define); () = official OpenAI."""
        return (self.spec,) if isinstance(self.spec, str) else tuple(self.spec or ())

    def check(self, source: str) -> None:
        choices = {
            "validation": VALIDATION_PROFILES,
            "validate_responses": RESPONSE_CHECKS,
            "mode": GENERATION_MODES,
            "unknown_ids": UNKNOWN_IDS,
        }
        for name, allowed in choices.items():
            value = getattr(self, name)
            if value not in allowed:
                raise ConfigError(f"{source}: {name} must be one of {', '.join(allowed)}; got {value!r}")
        from fakeai.state import SHARED_SCHEMES, is_shared

        if self.state not in STATE_BACKENDS and not is_shared(self.state):
            raise ConfigError(
                f"{source}: state must be 'none' or a Valkey/Redis URL ({', '.join(SHARED_SCHEMES)}...), "
                f"e.g. redis://localhost:6379/0; got {self.state!r}"
            )
        if self.workers < 1:
            raise ConfigError(f"{source}: workers must be >= 1; got {self.workers}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"{source}: port must be 0-65535; got {self.port}")
        if self.lifecycle_scale < 0:
            raise ConfigError(f"{source}: lifecycle_scale must be >= 0 (0 = lifecycles finish at once)")
        if self.store_max_items < 1 or self.store_max_bytes < 1:
            raise ConfigError(f"{source}: store_max_items and store_max_bytes must be positive")
        if self.max_body_bytes <= 0:
            raise ConfigError(f"{source}: max_body_bytes must be positive")
        if not 1 <= self.max_json_depth <= 250:  # orjson encodes at most 255 levels (the seed)
            raise ConfigError(f"{source}: max_json_depth must be 1-250; got {self.max_json_depth}")
        if self.model_backend not in MODEL_BACKENDS:
            raise ConfigError(f"{source}: model_backend must be llamacpp (or unset); got {self.model_backend!r}")
        if self.model_backend is not None and not self.model_path:
            raise ConfigError(f"{source}: model_backend {self.model_backend} needs model_path (a GGUF file)")
        for glob, values in self.latency_models.items():
            if not isinstance(values, Mapping) or not values or set(values) - {"ttft", "itl"}:
                raise ConfigError(f"{source}: latency_models[{glob!r}] must be a mapping with ttft and/or itl")
        for prefix in self.base_paths or ():
            if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
                raise ConfigError(f"{source}: base path {prefix!r} must start with '/' and not end with '/'")


def _convert(name: str, value: Any, current: Any, source: str) -> Any:
    """Coerce strings from env/CLI to the field's type (judged by the default's type)."""
    if value is None:
        return None
    if name == "spec":  # one spec (str) or several: a list, or "openai,anthropic" from the environment
        items = [str(v).strip() for v in value] if isinstance(value, (list, tuple)) else str(value).split(",")
        specs = tuple(v.strip() for v in items if v.strip())
        return specs[0] if len(specs) == 1 else specs or None
    if name == "base_paths" and current is None:
        current = ()
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{source}: {name} must be true or false; got {value!r}")
    if isinstance(current, int) and not isinstance(current, bool):
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{source}: {name} must be an integer; got {value!r}") from None
    if isinstance(current, float):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{source}: {name} must be a number; got {value!r}") from None
    if isinstance(current, tuple):
        if isinstance(value, str):
            return (
                tuple(v.strip() for v in value.split(",") if v.strip())
                if name != "base_paths"
                else tuple(v.strip() for v in value.split(","))
            )
        if isinstance(value, (list, tuple)):
            return tuple(str(v) for v in value)
        raise ConfigError(f"{source}: {name} must be a list; got {value!r}")
    if name == "fixed_time":
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{source}: fixed_time must be unix seconds; got {value!r}") from None
    if name == "metrics_port":
        try:
            port = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{source}: metrics_port must be a port number; got {value!r}") from None
        if not 0 <= port <= 65535:
            raise ConfigError(f"{source}: metrics_port must be 0-65535; got {port}")
        return port
    if isinstance(current, Mapping) or name == "extra":
        if isinstance(value, str):  # FAKEAI_LATENCY_MODELS / FAKEAI_EXTRA: JSON
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError as exc:
                raise ConfigError(f"{source}: {name} must be a JSON object; {exc}") from None
        if not isinstance(value, Mapping):
            raise ConfigError(f"{source}: {name} must be a mapping")
        return dict(value)
    return str(value) if not isinstance(value, str) else value


ENV_PREFIX = "FAKEAI_"


def from_env(environ: Mapping[str, str]) -> dict[str, str]:
    """``FAKEAI_PORT=9000`` -> ``{"port": "9000"}``; unknown FAKEAI_ names are reported later."""
    skip = {"FAKEAI_CACHE_DIR", "FAKEAI_NO_PLUGINS", "FAKEAI_SETTINGS_JSON"}  # read elsewhere, not settings
    return {k[len(ENV_PREFIX) :].lower(): v for k, v in environ.items() if k.startswith(ENV_PREFIX) and k not in skip}


def from_file(path: str) -> dict[str, Any]:
    """A YAML mapping of settings (plain values)."""
    return {key: value for key, value, _line in _file_entries(path)}


def _file_entries(path: str) -> list[tuple[str, Any, int]]:
    """``(name, value, line)`` for each setting in a YAML config file; errors name the file and line."""
    from fakeai import yamlload

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    loaded = yamlload.load(text, path, ConfigError)
    data = loaded.data
    if data is None:
        return []
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of setting names to values")
    return [(key, value, loaded.line((key,))) for key, value in data.items()]


def load_settings(cli: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Settings:
    """Defaults < config file < env < CLI. ``cli`` holds only flags the user actually gave."""
    environ = os.environ if environ is None else environ
    env = from_env(environ)
    config_file = cli.get("config_file") or env.get("config_file")
    settings = Settings()
    if config_file:
        for name, value, line in _file_entries(str(config_file)):
            settings = settings.merge({name: value}, f"{config_file}:{line}")
        settings = settings.merge({"config_file": str(config_file)}, str(config_file))
    settings = settings.merge(_known(env), "environment (FAKEAI_*)")
    return settings.merge(cli, "command line")


def _known(env: Mapping[str, str]) -> dict[str, str]:
    """The settings among ``FAKEAI_*`` variables. Another FAKEAI_ variable is a warning, not an error: a shell or
    a container may carry variables for another fakeai version or tool (an unknown key in a config file, which
    fakeai alone reads, stays an error)."""
    known = {f.name for f in fields(Settings)}
    for name in sorted(name for name in env if name not in known):
        log.warning("ignoring %s%s: unknown setting %r%s", ENV_PREFIX, name.upper(), name, closest(name, known))
    return {name: value for name, value in env.items() if name in known}
