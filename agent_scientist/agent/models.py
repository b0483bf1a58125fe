"""Build the planner and worker models (litellm through smolagents) and price their tokens.

litellm is imported only here and only when a model is built, with its bundled cost map,
so an offline machine makes no network call at start-up.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from agent_scientist.config import Settings
from agent_scientist.records import SCHEMA_VERSION, Inflight, ModelCall, StepRecord


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
                       retries=settings.model_retries, stall_timeout=settings.model_stall_timeout,
                       api_base=settings.api_base, system_mode=SystemMode(settings.system_prompt))


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
    """Whether the planner (or worker) model is shown images: `vision` (`worker_vision`) on or off, or with auto
    what litellm's model table says (an unknown model: no; a model behind `api_base`: no, such servers often
    refuse list-of-parts messages, so `vision = on` says they take them). A worker that is the planner's model
    follows `vision` under auto."""
    setting = settings.vision if role == "planner" else settings.worker_vision
    if setting != "auto":
        return setting == "on"
    if role != "planner" and settings.effective_worker_model == settings.model:
        return accepts_images(settings)
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
    """A model call got no token within its stall bound, or ran past the whole call's bound; its stream is closed."""


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
    stall_s: float = 60.0  # a try with no token for this long is closed
    tokens: int = 0  # output tokens of the try in progress, counted as they stream
    try_started: float | None = None
    first_token: float | None = None
    last_token: float | None = None
    spent: bool = False  # the whole call's bound ran out (not a stall)
    cut: bool = False  # the reply stopped at max_output_tokens
    timed_out: bool = False  # a try ran out of time (the call may still be retrying)
    last_error: str = ""
    log: CallLog | None = None  # where the run records its calls in flight (record_calls)

    @property
    def elapsed_s(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    @property
    def tokens_per_s(self) -> float:
        """Output tokens a second since the first token of the try in progress (0.0 before two tokens)."""
        if not self.first_token or not self.last_token or self.tokens < 2 or self.last_token <= self.first_token:
            return 0.0
        return (self.tokens - 1) / (self.last_token - self.first_token)

    @property
    def hit_bound(self) -> bool:
        return self.cut or self.timed_out


_calls: dict[str, CallState] = {}
_calls_lock = threading.Lock()


class CallLog:
    """A run's model calls in flight, kept in its workspace's inflight.json (records.Inflight) for `serve`: written
    at each call's start and end, at most once a PROGRESS_S while tokens stream, removed when none is in flight."""

    PROGRESS_S = 1.0

    def __init__(self, path: Path):
        self.path = Path(path)
        self._calls: dict[int, ModelCall] = {}
        self._lock = threading.Lock()
        self._written = 0.0
        with self._lock:
            self._write()  # none in flight yet: a file a killed run left goes

    def start(self, state: CallState) -> None:
        begun = time.time() - (time.monotonic() - state.started)
        with self._lock:
            self._calls[id(state)] = ModelCall(role=state.role, model=state.model_id, started_at=round(begun, 3),
                                               attempt=state.attempt, tries=state.tries, tokens=0)
            self._write()

    def progress(self, state: CallState, retry: bool = False) -> None:
        """The call's try and tokens so far; a token is written only if the file is PROGRESS_S old (a retry is)."""
        if not retry and time.monotonic() - self._written < self.PROGRESS_S:
            return
        with self._lock:
            call = self._calls.get(id(state))
            if call is not None:
                call["attempt"], call["tokens"] = state.attempt, 0 if retry else state.tokens
                self._write()

    def end(self, state: CallState) -> None:
        with self._lock:
            self._calls.pop(id(state), None)
            self._write()

    def _write(self) -> None:
        from agent_scientist.fsio import atomic_write_json

        self._written = time.monotonic()
        try:
            if self._calls:
                record = Inflight(v=SCHEMA_VERSION, pid=os.getpid(), updated_at=round(time.time(), 3),
                                  calls=list(self._calls.values()))
                atomic_write_json(self.path, record, durable=False)  # live-view state: replaced, not fsynced
            else:
                self.path.unlink(missing_ok=True)
        except OSError:  # the live view's record never fails a model call
            pass


def record_calls(path: Path, *models: Any) -> CallLog:
    """Record the calls of these (bounded) models in flight in `path` (a workspace's inflight.json)."""
    log = CallLog(path)
    for model in models:
        if model is not None and hasattr(model, "system_mode"):  # bound_calls made it
            model.call_log = log
    return log


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
    if isinstance(raw, dict) and raw.get("finish_reason") == "length":
        return True
    choices = getattr(raw, "choices", None) or []
    if choices and getattr(choices[0], "finish_reason", None) == "length":
        return True
    usage = getattr(message, "token_usage", None)
    return bool(max_output_tokens and usage is not None and usage.output_tokens >= max_output_tokens)


class SystemMode:
    """Where a model's instructions go: in a system message, or inside the first user message for chat templates
    that drop the system role (gemma's). `auto` starts with `system` and switches once the server's prompt
    tokens show the system message was dropped; `on_switch` records that (the workspace) and says so."""

    def __init__(self, setting: str = "auto"):
        self.setting = setting
        self.fold = setting == "user"
        self.on_switch: Any = None

    @staticmethod
    def dropped(prompt_chars: int, reported_tokens: int, system_chars: int) -> bool:
        """Whether a reply's reported prompt tokens (under a quarter of the prompt's size) say the server
        dropped the system message; the same rule as the live view's warning."""
        expected = prompt_chars // 4  # about four characters a token
        return bool(system_chars and reported_tokens and expected >= 500 and reported_tokens * 4 < expected)

    def switch(self) -> None:
        self.fold = True
        if self.on_switch is not None:
            self.on_switch()


def fold_system(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages with every system message's text moved to the front of the first user message."""
    system = "\n\n".join(_text_of(m.get("content")) for m in messages if m.get("role") == "system")
    rest = [dict(m) for m in messages if m.get("role") != "system"]
    if not system:
        return rest
    for message in rest:
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                message["content"] = [{"type": "text", "text": system + "\n\n"}, *content]
            else:
                message["content"] = f"{system}\n\n{content or ''}"
            return rest
    return [{"role": "user", "content": system}, *rest]


def _text_of(content: Any) -> str:
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content or "")


def bound_calls(model: Any, role: str, max_output_tokens: int, timeout: float, retries: int,
                stall_timeout: float = 60.0, api_base: str = "", system_mode: SystemMode | None = None) -> Any:
    """Stream every `model.generate`, bounded: a try that gets no token for min(`stall_timeout`, `timeout`) is
    closed; the whole call, retries (Retry-After honoured) and waits included, within timeout x (retries + 1).
    A try still producing is never cut before that. Ctrl-C, a bound or an error closes the stream (the HTTP
    connection), which makes llama.cpp, vLLM and Ollama stop generating; a try after a timeout waits first
    until the server answers `/models` again, so it never queues behind the abandoned one."""
    model_id = getattr(model, "model_id", "") or ""
    tries = max(0, int(retries)) + 1
    silence = min(stall_timeout, timeout)
    model.system_mode = system_mode or SystemMode("system")  # loop.run may share one between planner and worker

    def generate(messages: list[Any], **kwargs: Any) -> Any:
        state = CallState(role, model_id, max_output_tokens, timeout, timeout * tries, time.monotonic(), tries=tries,
                          stall_s=silence, log=getattr(model, "call_log", None))
        with _calls_lock:
            _calls[role] = state
        deadline = state.started + state.total_s
        if state.log is not None:
            state.log.start(state)
        try:
            while True:
                try:
                    message = _stream_once(model, messages, kwargs, state, deadline, model.system_mode)
                except Exception as exc:
                    state.last_error = str(exc)[:200]
                    state.timed_out = isinstance(exc, ModelCallTimeout)
                    wait = _retry_wait(exc, state.attempt)
                    if wait is None or state.attempt >= tries or time.monotonic() + wait >= deadline:
                        raise
                    time.sleep(wait)
                    if state.timed_out and api_base:
                        wait_until_free(api_base, deadline - time.monotonic())
                    state.attempt += 1
                    if state.log is not None:
                        state.log.progress(state, retry=True)
                    continue
                state.timed_out = False
                state.cut = output_was_cut(message, max_output_tokens)
                return message
        finally:
            state.in_flight = False
            state.ended = time.monotonic()
            if state.log is not None:
                state.log.end(state)

    model.generate = generate
    return model


def _stream_once(model: Any, messages: list[Any], kwargs: dict[str, Any], state: CallState, deadline: float,
                 mode: SystemMode) -> Any:
    """One streamed try; with `auto` system mode, sent again at once folded if the server dropped the system
    message (that reply was written without the instructions)."""
    from agent_scientist.agent.adapter import stream_request

    request = stream_request(model, messages, **kwargs)
    plain = request["messages"]
    if mode.fold:
        request["messages"] = fold_system(plain)
    message = _stream(request, state, deadline)
    if mode.setting == "auto" and not mode.fold:
        prompt_chars = sum(len(_text_of(m.get("content"))) for m in plain)
        system_chars = sum(len(_text_of(m.get("content"))) for m in plain if m.get("role") == "system")
        if mode.dropped(prompt_chars, message.token_usage.input_tokens, system_chars):
            mode.switch()
            request["messages"] = fold_system(plain)
            state.tokens = 0
            message = _stream(request, state, deadline)
    return message


def _stream(request: dict[str, Any], state: CallState, deadline: float) -> Any:
    """Read one streamed reply from a daemon thread, chunk by chunk; the calling thread waits on the chunks (so
    signals interrupt it) and closes the connection on any exit but the end of the reply."""
    import queue

    from agent_scientist.agent.adapter import reply_message

    litellm = import_litellm()
    chunks: queue.Queue = queue.Queue()
    box: dict[str, Any] = {}
    cancel = threading.Event()
    what = f"{state.model_id} (try {state.attempt} of {state.tries})"

    def read() -> None:
        try:
            stream = litellm.completion(**request)
            box["stream"] = stream
            if cancel.is_set():
                return
            for chunk in stream:
                chunks.put(("chunk", chunk))
                if cancel.is_set():
                    return
            chunks.put(("end", None))
        except BaseException as exc:  # handed to the waiting thread
            chunks.put(("error", exc))
        finally:
            if cancel.is_set():
                close_stream(box.get("stream"))

    if deadline - time.monotonic() <= 0:
        raise ModelCallTimeout(f"{what}: no time left in this call's bound")
    state.try_started = time.monotonic()
    state.first_token = state.last_token = None
    state.tokens = 0
    threading.Thread(target=read, name=f"model-stream {what}", daemon=True).start()
    parts: list[str] = []
    usage: Any = None
    finish = None
    last = time.monotonic()
    ended = False
    try:
        while True:
            now = time.monotonic()
            wait = min(last + state.stall_s, deadline) - now
            if wait <= 0:
                if now >= deadline:
                    state.spent = True
                    raise ModelCallTimeout(f"{what}: the whole call's bound ({state.total_s:.0f} s) ran out "
                                           f"after {state.tokens} tokens")
                raise ModelCallTimeout(f"{what} gave no token for {state.stall_s:.0f} s (model_stall_timeout)")
            try:
                kind, item = chunks.get(timeout=wait)
            except queue.Empty:
                continue
            if kind == "error":
                raise item
            if kind == "end":
                ended = True
                break
            last = time.monotonic()
            if getattr(item, "usage", None):
                usage = item.usage
            for choice in getattr(item, "choices", None) or []:
                delta = getattr(choice, "delta", None)
                text = getattr(delta, "content", None) if delta is not None else None
                if text:
                    parts.append(text)
                    state.tokens += 1  # llama.cpp, vLLM and Ollama send about one token a chunk
                    state.first_token = state.first_token or last
                    state.last_token = last
                    if state.log is not None:
                        state.log.progress(state)
                finish = getattr(choice, "finish_reason", None) or finish
    finally:
        if not ended:
            cancel.set()
            close_stream(box.get("stream"))
    tokens_in = int(getattr(usage, "prompt_tokens", 0) or 0)
    tokens_out = int(getattr(usage, "completion_tokens", 0) or 0) or state.tokens
    state.tokens = tokens_out
    return reply_message("".join(parts), tokens_in, tokens_out, raw={"finish_reason": finish})


def close_stream(stream: Any) -> None:
    """Close a litellm stream's HTTP connection now, even while another thread reads it (a socket shutdown)."""
    if stream is None:
        return
    inner = getattr(stream, "completion_stream", stream)
    response = getattr(inner, "response", None) or getattr(stream, "response", None)
    extensions = getattr(response, "extensions", None) or {}
    network = extensions.get("network_stream") if isinstance(extensions, dict) else None
    sock = network.get_extra_info("socket") if network is not None else None
    if sock is not None:
        import socket

        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    for closer in (getattr(inner, "close", None), getattr(response, "close", None)):
        try:
            if closer is not None:
                closer()
        except Exception:  # already closed, or closed under the reader's feet
            pass


def wait_until_free(api_base: str, seconds: float) -> bool:
    """Before a try after a timeout: wait (at most `seconds`) until the server answers /models again, so the
    identical prompt is not queued behind the abandoned one; says so when it waits."""
    base = api_base.rstrip("/")
    url = base + ("/models" if base.endswith("/v1") else "/v1/models")
    end = time.monotonic() + max(0.0, seconds)
    said = False
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return False
        if _answers(url, min(4.0, left)):
            return True
        if not said:
            said = True
            say(f"the model server is still busy with the abandoned request; waiting for {url} "
                f"(at most {left:.0f} s) before trying again")


def _answers(url: str, seconds: float) -> bool:
    """Whether GET `url` gets any HTTP answer within `seconds` (read in a daemon thread, so nothing hangs)."""
    import urllib.error
    import urllib.request

    done = threading.Event()

    def get() -> None:
        try:
            with urllib.request.urlopen(url, timeout=seconds):  # noqa: S310 - the configured api_base
                done.set()
        except urllib.error.HTTPError:
            done.set()  # an answer all the same: the server is free
        except Exception:  # refused, reset or timed out: not free yet
            time.sleep(min(1.0, seconds))

    threading.Thread(target=get, daemon=True).start()
    return done.wait(seconds)


def say(message: str) -> None:
    """A line for the user from a model call (stderr; the live view redirects it above its spinner)."""
    import sys

    print(f"warning: {message}", file=sys.stderr, flush=True)


def bound_hint(state: CallState | None) -> str:
    """After a call cut at the cap or stalled: which setting to change, with the measured tokens/s."""
    if state is None:
        return ""
    rate = state.tokens_per_s
    speed = f"{rate:.1f} tokens/s measured" if rate else "no token/s measured"
    if state.cut:
        need = f"; a full {state.max_output_tokens}-token reply takes about {state.max_output_tokens / rate:.0f} s" \
            if rate else ""
        return f"raise max_output_tokens (now {state.max_output_tokens}) or ask for shorter replies ({speed}{need})"
    if state.timed_out and state.spent:
        return (f"raise model_timeout (now {state.timeout_s:g} s; a whole call may take {state.total_s:g} s) "
                f"({speed}, {state.tokens} tokens in the last try)")
    if state.timed_out:
        return (f"raise model_stall_timeout (now {state.stall_s:g} s) if the server is slow to start a reply "
                f"({speed}, {state.tokens} tokens before the stall)")
    return ""


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


def ask_model(model: Any, system: str, user: str, max_tokens: int = 0,
              images: Sequence[Path] = ()) -> tuple[str, int, int]:
    """One call to a (worker) model outside the planner: (reply text, tokens in, tokens out); raises on errors.
    `images` (PNG files) go after the user text as image parts."""
    from agent_scientist.agent.adapter import ask_reply

    return ask_reply(model, system, user, max_tokens, images)
