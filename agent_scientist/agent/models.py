"""Build the planner and worker models (litellm through smolagents) and price their tokens.

litellm is imported only here and only when a model is built, with its bundled cost map,
so an offline machine makes no network call at start-up.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from agent_scientist.config import Settings
from agent_scientist.records import StepRecord


def import_litellm() -> Any:
    """litellm, configured: the price table shipped inside the package (never a download), no telemetry."""
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    os.environ.setdefault("LITELLM_TELEMETRY", "False")
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    return litellm


def build_model(settings: Settings, role: str = "planner") -> Any:
    """A smolagents LiteLLMModel for the planner (or the cheaper worker)."""
    settings.require_model()
    import_litellm()
    from agent_scientist.agent.adapter import LiteLLMModel

    model_id = settings.model if role == "planner" else settings.effective_worker_model
    price_model(model_id, settings.price_per_mtok)  # every command's budget sees the same price
    cap = settings.max_output_tokens if role == "planner" else settings.worker_max_output_tokens
    kwargs: dict[str, Any] = {
        "num_retries": 0,  # bound_calls retries, so the total time of a call stays bounded
        "timeout": settings.model_timeout,
        "max_tokens": cap,
    }
    kwargs.update(endpoint_kwargs(model_id, settings.api_base))
    if settings.api_base and not accepts_images(settings, role):
        # Local servers (llama.cpp, vLLM, Ollama) reject list-of-parts content: send plain strings (a model
        # that accepts images needs the parts: vision = on).
        kwargs["flatten_messages_as_text"] = True
    # smolagents' own retry waits a minute per rate limit; bound_calls retries within the call's bound.
    model = LiteLLMModel(model_id=model_id, retry=False, **kwargs)
    return bound_calls(model, role=role, max_output_tokens=cap, timeout=settings.model_timeout,
                       retries=settings.model_retries)


def endpoint_kwargs(model_id: str, api_base: str) -> dict[str, Any]:
    """litellm arguments for a self-hosted endpoint: its URL, and a placeholder key if none is set."""
    if not api_base:
        return {}
    kwargs: dict[str, Any] = {"api_base": api_base}
    if not _has_provider_key(model_id):
        kwargs["api_key"] = "not-needed"  # local servers ignore it; litellm's clients insist on one
    return kwargs


def _has_provider_key(model_id: str) -> bool:
    provider = model_id.split("/", 1)[0] if "/" in model_id else "openai"
    return any(os.environ.get(name) for name in provider_key_names(provider))


def provider_key_names(provider: str) -> list[str]:
    """Environment variables litellm reads for a provider's key."""
    provider = provider.lower()
    special = {
        "gemini": ["GEMINI_API_KEY", "GOOGLE_API_KEY"],
        "vertex_ai": ["GOOGLE_APPLICATION_CREDENTIALS"],
        "bedrock": ["AWS_ACCESS_KEY_ID"],
        "azure": ["AZURE_API_KEY"],
        "together_ai": ["TOGETHERAI_API_KEY", "TOGETHER_API_KEY"],
        "huggingface": ["HF_TOKEN", "HUGGINGFACE_API_KEY"],
        "ollama": [],
        "ollama_chat": [],
        "hosted_vllm": [],
        "lm_studio": [],
    }
    if provider in special:
        return special[provider]
    return [f"{provider.upper()}_API_KEY"]


def cost_usd(model_id: str, tokens_in: int, tokens_out: int) -> float:
    """Price of one call from litellm's bundled table; 0.0 for unknown or local models."""
    if not tokens_in and not tokens_out:
        return 0.0
    return _cost(model_id, int(tokens_in), int(tokens_out))


@lru_cache(maxsize=4096)
def _cost(model_id: str, tokens_in: int, tokens_out: int) -> float:
    litellm = import_litellm()
    try:
        prompt, completion = litellm.cost_per_token(
            model=model_id, prompt_tokens=tokens_in, completion_tokens=tokens_out
        )
    except Exception:  # unknown model: litellm raises; a local model costs nothing we can price
        return 0.0
    return float(prompt) + float(completion)


def accepts_images(settings: Settings, role: str = "planner") -> bool:
    """Whether the planner (or worker) model is shown images: `vision` on or off, or with auto what litellm's
    model table says (an unknown model: no; a model behind `api_base`: no, such servers often refuse
    list-of-parts messages, so `vision = on` says they take them)."""
    if settings.vision != "auto":
        return settings.vision == "on"
    model_id = settings.model if role == "planner" else settings.effective_worker_model
    if not model_id or settings.api_base:
        return False
    try:
        return bool(import_litellm().supports_vision(model=model_id))
    except Exception:  # litellm raises for a model it does not know
        return False


def model_known(model_id: str) -> bool:
    """Whether litellm's bundled table (or a registered price) knows the model."""
    litellm = import_litellm()
    try:
        litellm.get_model_info(model_id)
        return True
    except Exception:
        return False


def price_model(model_id: str, price_per_mtok: float) -> bool:
    """Give litellm `price_per_mtok` (USD per million tokens, in and out) for a model it cannot price;
    whether the model has a price now (False: its cost counts as $0, so a budget cannot stop it)."""
    if model_known(model_id):
        return True
    if price_per_mtok <= 0:
        return False
    provider = model_id.split("/", 1)[0] if "/" in model_id else "openai"
    import_litellm().register_model({model_id: {
        "input_cost_per_token": price_per_mtok / 1e6, "output_cost_per_token": price_per_mtok / 1e6,
        "litellm_provider": provider, "mode": "chat"}})
    _cost.cache_clear()  # a $0 priced before the registration must not stay cached
    return True


def unpriced_models(settings: Settings) -> list[str]:
    """The planner and worker models that have no price even with `price_per_mtok` (a budget is blind to them)."""
    models = dict.fromkeys(m for m in (settings.model, settings.effective_worker_model) if m)
    return [m for m in models if not price_model(m, settings.price_per_mtok)]


_apart = threading.local()


class metered_apart:  # noqa: N801 - used as a `with` block, like a function
    """Calls made in this thread inside the block are metered by their caller (gather_evidence), not by
    the UsageMeter of the step, so their tokens are counted once."""

    def __enter__(self) -> None:
        _apart.on = True

    def __exit__(self, *exc: Any) -> None:
        _apart.on = False


class UsageMeter:
    """Counts the tokens of every call a model makes outside the planner's own steps (the worker)."""

    def __init__(self, model: Any):
        self.model_id = getattr(model, "model_id", "") or ""
        self.tokens_in = 0
        self.tokens_out = 0
        original = model.generate

        def generate(*args: Any, **kwargs: Any) -> Any:
            message = original(*args, **kwargs)
            usage = getattr(message, "token_usage", None)
            if usage is not None and not getattr(_apart, "on", False):
                self.tokens_in += usage.input_tokens
                self.tokens_out += usage.output_tokens
            return message

        model.generate = generate

    def take(self) -> StepRecord:
        """The usage since the last take, as step-record fields."""
        tokens_in, tokens_out = self.tokens_in, self.tokens_out
        self.tokens_in = self.tokens_out = 0
        if not tokens_in and not tokens_out:
            return {}
        return {
            "worker_tokens_in": tokens_in,
            "worker_tokens_out": tokens_out,
            "worker_cost_usd": round(cost_usd(self.model_id, tokens_in, tokens_out), 8),
        }


# -- bounded calls -------------------------------------------------------------------------------

class ModelCallTimeout(TimeoutError):
    """A model call got no answer within its bound; the abandoned request is left to its own timeout."""


@dataclass
class CallState:
    """The latest call of one role, for the live view (read it with `current_call`)."""

    role: str
    model_id: str
    max_output_tokens: int
    timeout_s: float  # per try
    total_s: float  # for the whole call, retries and waits included
    started: float  # time.monotonic() at the start of the call
    attempt: int = 1  # the try in progress (1 = first)
    tries: int = 1  # the most tries this call may make
    in_flight: bool = True
    ended: float | None = None
    cut: bool = False  # the reply stopped at max_output_tokens
    timed_out: bool = False  # a try ran out of time (the call may still be retrying)
    last_error: str = ""

    @property
    def elapsed_s(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    @property
    def hit_bound(self) -> bool:
        return self.cut or self.timed_out


_calls: dict[str, CallState] = {}
_calls_lock = threading.Lock()


def current_call(role: str | None = None) -> CallState | None:
    """The in-flight (else the latest) call of `role`, or of any role if None: the progress view's hook."""
    with _calls_lock:
        if role is not None:
            return _calls.get(role)
        states = list(_calls.values())
    live = [c for c in states if c.in_flight]
    pool = live or states
    return max(pool, key=lambda c: c.started) if pool else None


def output_was_cut(message: Any, max_output_tokens: int = 0) -> bool:
    """Whether a reply stopped at the output-token cap (finish_reason 'length', or usage at the cap)."""
    raw = getattr(message, "raw", None)
    choices = getattr(raw, "choices", None) or []
    if choices and getattr(choices[0], "finish_reason", None) == "length":
        return True
    usage = getattr(message, "token_usage", None)
    return bool(max_output_tokens and usage is not None and usage.output_tokens >= max_output_tokens)


def bound_calls(model: Any, role: str, max_output_tokens: int, timeout: float, retries: int) -> Any:
    """Bound every `model.generate`: `timeout` per try, by a clock; retries on transient errors
    (Retry-After honoured) within timeout x (retries + 1) in total. Ctrl-C interrupts at once."""
    original = model.generate
    model_id = getattr(model, "model_id", "") or ""
    tries = max(0, int(retries)) + 1

    def generate(*args: Any, **kwargs: Any) -> Any:
        state = CallState(role, model_id, max_output_tokens, timeout, timeout * tries, time.monotonic(), tries=tries)
        with _calls_lock:
            _calls[role] = state
        deadline = state.started + state.total_s
        try:
            while True:
                try:
                    message = _with_deadline(original, args, kwargs, min(timeout, deadline - time.monotonic()),
                                             f"{model_id} (try {state.attempt} of {tries})")
                except Exception as exc:
                    state.last_error = str(exc)[:200]
                    state.timed_out = isinstance(exc, ModelCallTimeout)
                    wait = _retry_wait(exc, state.attempt)
                    if wait is None or state.attempt >= tries or time.monotonic() + wait >= deadline:
                        raise
                    time.sleep(wait)
                    state.attempt += 1
                    continue
                state.timed_out = False
                state.cut = output_was_cut(message, max_output_tokens)
                return message
        finally:
            state.in_flight = False
            state.ended = time.monotonic()

    model.generate = generate
    return model


def _with_deadline(fn: Any, args: tuple, kwargs: dict, seconds: float, what: str) -> Any:
    """fn(*args, **kwargs) in a daemon thread, waited for at most `seconds` (signals still interrupt)."""
    if seconds <= 0:
        raise ModelCallTimeout(f"{what}: no time left in this call's bound")
    box: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name=f"model-call {what}", daemon=True).start()
    if not done.wait(seconds):
        raise ModelCallTimeout(f"{what} gave no answer within {seconds:.0f} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


_TRANSIENT = {408, 409, 425, 429, 500, 502, 503, 504, 529}


def _retry_wait(exc: BaseException, attempt: int) -> float | None:
    """Seconds to wait before retrying after `exc`, or None if retrying cannot help."""
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    transient = (
        isinstance(exc, ModelCallTimeout | TimeoutError | ConnectionError)
        or status in _TRANSIENT
        or name in {"APIConnectionError", "Timeout", "APITimeoutError", "InternalServerError",
                    "ServiceUnavailableError", "RateLimitError", "BadGatewayError"}
    )
    if not transient:
        return None
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    try:
        after = float(headers.get("retry-after") or headers.get("Retry-After") or "")
        return max(0.0, min(after, 60.0))
    except (TypeError, ValueError):
        return min(2.0 ** (attempt - 1), 8.0)


def ask_prompt(model: Any, spec: dict[str, Any], max_tokens: int = 0, **fields: Any) -> str:
    """One call with a prompt of prompts/*.yaml (`system`, and `user` with {{name}} fields); the reply text."""
    from agent_scientist.prompting import render

    return ask_model(model, str(spec["system"]).strip(), render(str(spec["user"]), **fields), max_tokens)[0]


def ask_model(model: Any, system: str, user: str, max_tokens: int = 0) -> tuple[str, int, int]:
    """One call to a (worker) model outside the planner: (reply text, tokens in, tokens out); raises on errors."""
    from agent_scientist.agent.adapter import ask_reply

    return ask_reply(model, system, user, max_tokens)
