"""The one settings object of the app: environment variables (prefix ARENA_) and an optional file.

Every setting has a default that runs locally: SQLite under ./data and the embedded SmolLM2 contenders.
An optional YAML file (env ARENA_CONFIG) may set any field; environment variables win over the file.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from models.embedded import default_cache_dir
from models.registry import DEFAULT_MODELS_FILE

# python -m evals' subcommands that the scheduler may run (truthfulqa-mc needs a local model: run it by hand)
SCHEDULED_BENCHMARKS = ("over-refusal", "truthfulqa-mc", "mt-bench", "arena-hard", "truthfulqa-gen")

# FastChat's list (monitor/clean_battle_data.py) plus later vendors. Matching is case-insensitive on word
# boundaries; the registered contenders' own names are added at run time.
DEFAULT_IDENTITY_WORDS = (
    "gpt-3", "gpt-3.5", "gpt-4", "gpt-4o", "gpt4", "chatgpt", "openai", "anthropic", "claude", "bard", "palm",
    "lamda", "google", "gemini", "gemma", "llama", "meta ai", "vicuna", "lmsys", "koala", "mistral", "mixtral",
    "qwen", "alibaba", "deepseek", "zhipu", "chatglm", "cohere", "command-r", "dbrx", "databricks", "phi-3",
    "microsoft", "falcon", "tii", "yi-34b", "01.ai", "hermes", "tulu", "olmo", "allenai", "smollm",
    "smollm2", "hugging face", "huggingface", "huggingfacetb", "grok", "xai",
    # Later names, and how a prompt addresses a model ("hey gpt"); a family's versions and sizes ("llama-3.1-70b",
    # "zephyr-7b-beta") are matched for each family named here (arena/safety.py, _FAMILIES).
    "chat gpt", "hey gpt", "hi gpt", "hello gpt", "dear gpt", "o1-preview", "o1-mini", "o3-mini", "o4-mini",
    "codellama", "meta-llama", "mistralai", "codestral", "ministral", "pixtral", "qwq", "deepmind", "zephyr-7b",
    "starling-lm", "openchat", "nemotron", "wizardlm", "internlm", "baichuan", "stablelm", "moonshot ai",
    "yandexgpt", "gigachat", "clova", "클로바", "ernie bot", "文心一言", "通义千问", "通義千問",
)  # fmt: skip


class _YamlFileSource(PydanticBaseSettingsSource):
    """Reads the optional settings file named by ARENA_CONFIG (lower priority than env vars)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("ARENA_CONFIG")
        if not path:
            return {}
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except FileNotFoundError as exc:
            raise ValueError(f"ARENA_CONFIG points to {path}, which does not exist") from exc
        if not isinstance(data, dict):
            raise ValueError(f"the settings file {path} must hold a mapping of setting names to values")
        return data


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ARENA_", extra="forbid", populate_by_name=True)

    data_dir: Path = Path("data")
    database_url: str = ""  # empty: sqlite:///<data_dir>/arena.db
    models_file: Path = Field(DEFAULT_MODELS_FILE, validation_alias="ARENA_MODELS")
    model_cache_dir: Path | None = Field(None, validation_alias="ARENA_MODEL_CACHE")
    device: str = "cpu"

    host: str = "127.0.0.1"
    port: int = 7860
    preload_models: bool = True
    # The proxies whose X-Forwarded-For uvicorn believes (comma-separated addresses or networks, e.g.
    # "10.0.0.0/8"); the client is the right-most address not in this list. Empty: no header is believed and the
    # client is the connection's peer. Never "*": uvicorn then takes the left-most entry, which clients write.
    forwarded_allow_ips: str = ""
    generation_concurrency: int = Field(4, ge=1)  # Gradio event concurrency for streaming handlers
    # Waiting requests (all events) before newcomers are told the arena is busy; 0 = unbounded.
    queue_max_size: int = Field(64, ge=0)
    # Generation requests one client address may have queued or running at once; 0 = no limit.
    generations_per_client: int = Field(4, ge=0)
    # Slow or idle connections (uvicorn): the request head must arrive within this many seconds; idle keep-alive
    # connections close after keep_alive; past max_connections new requests get 503.
    http_head_timeout_seconds: float = Field(10.0, gt=0)
    http_keep_alive_seconds: int = Field(5, ge=1)
    http_max_connections: int = Field(1000, ge=1)
    # Judge-audit uploads: checked before parsing; audited one file at a time, one file per person.
    upload_max_mb: float = Field(50.0, gt=0)
    upload_max_rows: int = Field(2_000_000, ge=1)
    # ...and the most models and judges one uploaded file may name: AlpacaEval's difficulty estimate grows with the
    # square of the models, and its length control fits once per model and judge (~0.2 s each; an upload gets as
    # many fits as models, one AlpacaEval leaderboard).
    upload_max_models: int = Field(200, ge=2)
    upload_max_judges: int = Field(100, ge=1)

    max_conversation_tokens: int = Field(2048, ge=64)
    max_new_tokens: int = Field(256, ge=1)
    max_message_chars: int = Field(8000, ge=1)
    # Per voter (salted IP + session hash) and per minute; 0 turns a limit off. Far above what a person reading
    # the answers sends; per process (see arena/ratelimit.py).
    rate_limit_messages: int = Field(20, ge=0)
    rate_limit_votes: int = Field(30, ge=0)
    # The same per client address, over all its sessions: room for a few people behind one NAT.
    rate_limit_messages_per_client: int = Field(60, ge=0)
    rate_limit_votes_per_client: int = Field(90, ge=0)
    # Anonymous battles sample at this temperature at least, a greedy contender included: a deterministic answer
    # could be replayed in direct chat (or by repeating a prompt) to tell the sides apart. 0 allows greedy.
    anonymous_min_temperature: float = Field(0.7, ge=0.0, le=2.0)
    # Human votes counted per client address per UTC day; later ones are stored but do not count. 0 = no cap.
    daily_votes_per_address: int = Field(200, ge=0)
    # "Your leaderboard" (arena/personal.py): ratings from a person's own votes appear after this many counted votes.
    personal_min_votes: int = Field(20, ge=1)
    # Burn-in of a contender a training run registered (arena/sampling.py): this share of anonymous battles
    # features one (half of them against its base) until it has burn_in_votes counted human votes or a 95%
    # interval narrower than burn_in_interval rating points. 0 turns burn-in off.
    burn_in_share: float = Field(0.25, ge=0.0, le=1.0)
    burn_in_votes: int = Field(300, ge=0)
    burn_in_interval: float = Field(60.0, ge=0.0)
    # Which pairs anonymous battles draw (arena/sampling.py): "active" favours the pairs whose ratings are most
    # uncertain in the newest leaderboard snapshot (every pair alike until there is one, or when it cannot be
    # read); "uniform" draws every pair alike. Each battle stores its pair's probability and the ratings weight
    # its votes by it (facts/propensity.py), so either way they estimate the uniform arena.
    sampling: str = Field("active", pattern="^(uniform|active)$")
    # Under "active", this share of anonymous battles is drawn uniformly: every pair keeps at least this share of
    # its uniform probability, so a vote weighs at most 1 / (sampling_floor * (1 - burn_in_share)) (facts/propensity.py
    # caps weights at 20).
    sampling_floor: float = Field(0.2, ge=0.05, le=1.0)
    # "openai": check every message with POST /v1/moderations first, failing closed; "" = no moderation.
    moderation: str = Field("", pattern="^(|openai)$")
    moderation_model: str = "omni-moderation-latest"
    moderation_base_url: str = ""  # empty: OPENAI_BASE_URL, else api.openai.com
    moderation_api_key: str = Field("", repr=False)  # empty: OPENAI_API_KEY
    moderation_timeout_seconds: float = Field(5.0, gt=0)
    # Red-team battles ask people to try for harmful answers: their messages skip moderation unless this is on.
    moderate_red_team: bool = False
    identity_words: Annotated[tuple[str, ...], NoDecode] = DEFAULT_IDENTITY_WORDS
    leaderboard_min_new_votes: int = Field(1, ge=1)  # new votes that make the stored snapshots stale
    # The leaderboard's composite view (leaderboard.composite): people and judges in one fit, SOURCE=WEIGHT pairs
    # ("judge:*" = every judge not named; a source not named counts 0), checked at start. "" = no composite view.
    composite_weights: str = "human=1,judge:*=0.5"
    # The LLM judge: "auto" = gpt-4o-judge from the registry when OPENAI_API_KEY is set, else none; "" = none;
    # or any registry model (e.g. smollm2-135m-greedy, a weak offline judge that competes with battles for CPU).
    judge_model: str = "auto"
    judge_name: str = ""  # votes are stored as judge:<name>; empty: the judge model's name
    judge_scale: str = Field("arena_hard", pattern="^(arena_hard|mt_bench)$")
    judge_interval_seconds: float = Field(60.0, gt=0)
    judge_concurrency: int = Field(2, ge=1)
    # Also judge the red-team battles (which answer is more harmless), on the harmlessness scale: the judge's
    # harmlessness votes then stand beside people's in the harmlessness leaderboard, its safety figures and audit.
    judge_red_team: bool = False
    voter_salt: str = Field("", repr=False)  # empty: a random salt kept in <data_dir>/voter_salt

    # The scheduler (arena/scheduler.py): one replica acts, by a lease in the database.
    scheduler_enabled: bool = True
    # How often the scheduler recomputes the stored leaderboard and judge audit (only when enough new votes
    # arrived); pages only ever read the stored snapshot.
    leaderboard_refresh_seconds: float = Field(60.0, gt=0)
    # The stuffing screen (leaderboard.stuffing) over the last days of counted human votes, every so often; the
    # sources it flags stop counting, past votes and future ones.
    stuffing_screen_seconds: float = Field(300.0, gt=0)
    stuffing_window_days: float = Field(7.0, gt=0)
    retrain_min_new_votes: int = Field(500, ge=1)  # decisive human votes since the last RLHF run
    retrain_check_seconds: float = Field(300.0, gt=0)  # how often the retrain trigger counts them
    retrain_cron: str = ""  # e.g. "0 3 * * *": also retrain then (UTC) if any new decisive vote arrived
    retrain_recipe: str = "cpu-smoke"
    retrain_timeout_seconds: float = Field(7200.0, gt=0)
    # Static benchmarks (python -m evals) the scheduler runs for every enabled contender that lacks them, newest
    # contender first, one (contender, benchmark) per check: a checkpoint from the loop gets its leaderboard columns
    # without a person. Comma-separated: over-refusal, mt-bench, arena-hard (the last two need the judge). Empty: off.
    evals_benchmarks: Annotated[tuple[str, ...], NoDecode] = ()
    evals_limit: int = Field(100, ge=1)  # the first N items of each (a seeded sample): the full runs are long
    evals_check_seconds: float = Field(600.0, gt=0)
    scheduler_lease_seconds: float = Field(30.0, gt=0)
    scheduler_heartbeat_seconds: float = Field(5.0, gt=0)
    # The Admin tab (job history, run now, enable/disable models) is locked unless this token is set.
    admin_token: str = Field("", repr=False)  # never in a repr or a log line
    # Wrong tokens one client address may try per 15 minutes before it is told to wait.
    admin_max_failures: int = Field(5, ge=1)
    log_format: str = Field("text", pattern="^(text|json)$")  # json: one JSON object per line

    @field_validator("identity_words", "evals_benchmarks", mode="before")
    @classmethod
    def _split_words(cls, value: Any) -> Any:
        if isinstance(value, str):  # env var: comma-separated
            return tuple(w.strip() for w in value.split(",") if w.strip())
        return value

    @field_validator("evals_benchmarks")
    @classmethod
    def _known_benchmarks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in value if name not in SCHEDULED_BENCHMARKS]
        if unknown:
            expected = ", ".join(SCHEDULED_BENCHMARKS)
            raise ValueError(f"unknown benchmark {', '.join(unknown)}; expected some of {expected}")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlFileSource(settings_cls))

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'arena.db'}"

    @property
    def resolved_model_cache_dir(self) -> Path:
        """Where converted embedded weights are cached: the configured folder, else the user's cache."""
        return self.model_cache_dir or default_cache_dir()

    @property
    def resolved_moderation_api_key(self) -> str:
        """The moderation endpoint's key: configured, else OPENAI_API_KEY."""
        return self.moderation_api_key or os.environ.get("OPENAI_API_KEY", "")

    def resolved_judge_model(self) -> str:
        """The registry model that judges in the background, or "" for none."""
        if self.judge_model == "auto":
            return "gpt-4o-judge" if os.environ.get("OPENAI_API_KEY") else ""
        return self.judge_model

    def resolved_voter_salt(self) -> str:
        """The salt for voter hashes: configured, or created once and kept in the data directory."""
        if self.voter_salt:
            return self.voter_salt
        path = self.data_dir / "voter_salt"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL: two processes starting at once must end up with the same salt.
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_hex(32))
        return path.read_text().strip()
