"""One loaded engine per distinct (backend, weights, quantization), shared by every contender using it.

For remote contenders the "engine" is a client per (endpoint, served model): see ModelSpec.engine_key.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path

from models.backends.local import DEFAULT_MAX_CONCURRENT, LocalEngine
from models.backends.openai_compat import OpenAIChatBackend
from models.registry import ModelSpec
from models.types import BackendError, ChatBackend

log = logging.getLogger(__name__)

EngineKey = tuple[str, str, str]


class BackendPool:
    """Lazily loads engines, once each, and hands the same object to every contender sharing weights.

    Sharing matters twice: memory (one copy of the weights) and speed (two contenders on one engine can be
    batched into one forward pass per step).
    """

    def __init__(
        self, cache_dir: Path | None = None, device: str = "cpu", max_concurrent: int = DEFAULT_MAX_CONCURRENT
    ) -> None:
        self.cache_dir = cache_dir
        self.device = device
        self.max_concurrent = max_concurrent
        self._engines: dict[EngineKey, ChatBackend] = {}
        self._lock = threading.Lock()
        # One lock per key: two threads wanting the same engine load it once, while different engines can
        # load in parallel.
        self._loading: dict[EngineKey, threading.Lock] = {}

    def get(self, spec: ModelSpec) -> ChatBackend:
        key = spec.engine_key
        with self._lock:
            engine = self._engines.get(key)
            if engine is not None:
                return engine
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                engine = self._engines.get(key)
            if engine is None:
                engine = self._load(spec)
                with self._lock:
                    self._engines[key] = engine
        return engine

    def preload(self, specs: Iterable[ModelSpec]) -> None:
        """Load every engine the specs need now, so the first battle does not wait (or fail) on loading."""
        for spec in specs:
            self.get(spec)

    def loaded(self) -> list[EngineKey]:
        with self._lock:
            return list(self._engines)

    def _load(self, spec: ModelSpec) -> ChatBackend:
        if spec.backend == "openai":
            options = spec.openai_options
            log.info("client for %s at %s for %s", options.model, options.base_url, spec.name)
            return OpenAIChatBackend(options)
        if spec.backend != "local":
            raise BackendError(f"model {spec.name!r}: unknown backend {spec.backend!r}")
        log.info("loading %s (%s) for %s", spec.weights, spec.quantization, spec.name)
        return LocalEngine.load(
            spec.weights,
            quantization=spec.quantization,
            device=self.device,
            cache_dir=self.cache_dir,
            max_concurrent=self.max_concurrent,
        )
