"""Build the planner and worker models (litellm through smolagents) and price their tokens.

litellm is imported only here and only when a model is built, with its bundled cost map,
so an offline machine makes no network call at start-up.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from agent_scientist.config import Settings


def _import_litellm() -> Any:
    # Use the price table shipped inside the package, never a download.
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    os.environ.setdefault("LITELLM_TELEMETRY", "False")
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    return litellm


def build_model(settings: Settings, role: str = "planner") -> Any:
    """A smolagents LiteLLMModel for the planner (or the cheaper worker)."""
    settings.require_model()
    _import_litellm()
    from agent_scientist.agent.adapter import LiteLLMModel

    model_id = settings.model if role == "planner" else settings.effective_worker_model
    kwargs: dict[str, Any] = {
        "num_retries": settings.model_retries,
        "timeout": settings.model_timeout,
    }
    kwargs.update(endpoint_kwargs(model_id, settings.api_base))
    if settings.api_base:
        # Local servers (llama.cpp, vLLM, Ollama) reject list-of-parts content: send plain strings.
        kwargs["flatten_messages_as_text"] = True
    # smolagents' own retry waits a minute per rate limit; litellm's backoff is enough.
    return LiteLLMModel(model_id=model_id, retry=False, **kwargs)


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
    litellm = _import_litellm()
    try:
        prompt, completion = litellm.cost_per_token(
            model=model_id, prompt_tokens=tokens_in, completion_tokens=tokens_out
        )
    except Exception:  # unknown model: litellm raises; a local model costs nothing we can price
        return 0.0
    return float(prompt) + float(completion)


def model_known(model_id: str) -> bool:
    litellm = _import_litellm()
    try:
        litellm.get_model_info(model_id)
        return True
    except Exception:
        return False


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
            if usage is not None:
                self.tokens_in += usage.input_tokens
                self.tokens_out += usage.output_tokens
            return message

        model.generate = generate

    def take(self) -> dict[str, Any]:
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
