"""`embedding_runtime`: which runtime a real CLI process loads the bundled model on, and the message when the one
asked for is missing (checked in sys.modules of new processes, not the warm runner's forks)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import cli_env
from test_cli_imports import PROBE

from agent_scientist.memory.embedding import openvino_installed

# A process where `import openvino` fails, as where the extra is not installed.
WITHOUT_OPENVINO = "import sys\nsys.modules['openvino'] = None\n" + PROBE

openvino = pytest.mark.skipif(not openvino_installed(),
                              reason="the openvino extra is not installed (`.ci/run` installs it)")


def _run(home, *args: str, env: dict[str, str] | None = None, probe: str = PROBE) -> tuple[int, set[str], str]:
    done = subprocess.run([sys.executable, "-c", probe, json.dumps(args)], env={**cli_env(home), **(env or {})},
                          capture_output=True, text=True, timeout=180, cwd=home.parent)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return report["code"] or 0, {m.split(".")[0] for m in report["modules"]}, done.stdout + done.stderr


def _notes(tmp_path, n: int = 20):
    path = tmp_path / "notes.jsonl"
    path.write_text("".join(json.dumps({"text": f"Observation {i}: warmup of {i * 100} steps.", "kind": "result"})
                            + "\n" for i in range(n)))
    return path


@openvino
def test_auto_embeds_on_openvino_in_every_command(home, tmp_path):
    code, modules, out = _run(home, "memory", "import", str(_notes(tmp_path)), "--name", "w")
    assert code == 0, out
    assert "openvino" in modules and "onnxruntime" not in modules and "Imported 20 note(s)" in out
    code, modules, out = _run(home, "memory", "search", "warmup steps", "--name", "w")
    assert code == 0, out
    assert "openvino" in modules and "onnxruntime" not in modules and "Observation" in out


@openvino
def test_openvino_loads_without_its_converter_which_phones_home(home, tmp_path):
    """`import openvino` imports its model converter, whose import sends a usage event to Google Analytics
    unless CI=true; the embedder loads openvino without it (a user's own later import still works)."""
    env = {k: v for k, v in cli_env(home).items() if k != "CI"}
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(["memory", "import", str(_notes(tmp_path)),
                                                                     "--name", "w"])],
                          env=env, capture_output=True, text=True, timeout=180, cwd=home.parent)
    modules = set(json.loads(done.stderr.strip().splitlines()[-1])["modules"])
    assert "Imported 20 note(s)" in done.stdout, done.stdout + done.stderr
    assert "openvino" in modules and "openvino_telemetry" not in modules and "openvino.tools.ovc" not in modules
    later = subprocess.run([sys.executable, "-c", "from agent_scientist.memory.embedding import _import_openvino\n"
                            "_import_openvino()\nimport openvino.tools.ovc\nprint(openvino.tools.ovc.convert_model)"],
                           env={**env, "CI": "true"}, capture_output=True, text=True, timeout=120)
    assert "function convert_model" in later.stdout, later.stderr


@openvino
def test_the_setting_chooses_the_runtime_for_every_command(home, tmp_path):
    onnx = {"AGENT_SCIENTIST_EMBEDDING_RUNTIME": "onnxruntime"}
    code, modules, out = _run(home, "memory", "import", str(_notes(tmp_path)), "--name", "w", env=onnx)
    assert code == 0 and "openvino" not in modules, out
    code, modules, out = _run(home, "memory", "search", "warmup steps", "--name", "w", env=onnx)
    assert code == 0 and "openvino" not in modules and "Observation" in out, out
    code, modules, out = _run(home, "memory", "search", "warmup steps", "--name", "w")
    assert code == 0 and "openvino" in modules and "Observation" in out, out  # stored on one, searched on the other


def test_openvino_asked_for_but_missing_says_how_to_fix_it_and_auto_falls_back(home, tmp_path):
    vino = {"AGENT_SCIENTIST_EMBEDDING_RUNTIME": "openvino"}
    code, _, out = _run(home, "memory", "import", str(_notes(tmp_path)), "--name", "w", env=vino,
                        probe=WITHOUT_OPENVINO)
    assert code != 0
    assert "failed to load on openvino" in out and 'embedding_runtime = "onnxruntime"' in out
    assert "agent-scientist[openvino]" in out and "Traceback" not in out
    code, modules, out = _run(home, "memory", "import", str(_notes(tmp_path)), "--name", "w",
                              probe=WITHOUT_OPENVINO)
    assert code == 0 and "onnxruntime" in modules and "Imported 20 note(s)" in out, out


def test_an_unknown_runtime_is_refused_naming_the_setting(home, tmp_path):
    code, _, out = _run(home, "memory", "import", str(_notes(tmp_path)), "--name", "w",
                        env={"AGENT_SCIENTIST_EMBEDDING_RUNTIME": "tensorrt"})
    assert code == 2
    assert "Setting 'embedding_runtime' must be one of auto, onnxruntime, openvino, not 'tensorrt'" in out


def test_doctor_names_the_runtime_the_model_loaded_on(home, cli):
    expected = "openvino" if openvino_installed() else "onnxruntime"
    assert f"embedding model: local on {expected}: 384 dimensions" in cli("doctor").stdout
    onnx = cli("doctor", env={"AGENT_SCIENTIST_EMBEDDING_RUNTIME": "onnxruntime"})
    assert "embedding model: local on onnxruntime: 384 dimensions" in onnx.stdout


@openvino
def test_threads_embedding_at_once_on_openvino_get_each_their_own_vectors():
    """Its infer requests are not shared between threads: the background indexing and a recall may embed at
    the same moment and must each get their own texts' vectors."""
    import threading

    import numpy as np

    from agent_scientist.memory.embedding import LocalEmbedder

    embedder = LocalEmbedder(runtime="openvino")
    sets = [[f"Passage {i} of set {n}: " + "warmup and calibration " * (5 + n * 7) for i in range(12)]
            for n in range(4)]
    expected = [embedder.embed(texts) for texts in sets]
    got: dict[int, np.ndarray] = {}
    threads = [threading.Thread(target=lambda n=n: got.__setitem__(n, embedder.embed(sets[n]))) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for n in range(4):
        assert ((got[n] * expected[n]).sum(axis=1) >= 0.99999).all()


def _blobs(cache) -> list:
    return sorted((cache / "agent-scientist" / "openvino").glob("*.blob"))


@openvino
def test_the_compiled_model_is_cached_per_configuration_and_a_bad_cache_file_is_rebuilt(tmp_path, monkeypatch):
    """The compiled model is kept in the user's cache (a one-query process loads it instead of compiling): the
    same vectors either way; a file that does not load is compiled again and replaced; another thread count is
    another file."""
    import numpy as np

    from agent_scientist.memory.embedding import LocalEmbedder

    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    texts = ["Label smoothing improves calibration.", "word " * 300, "Warmup of 500 steps."]
    compiled = LocalEmbedder(runtime="openvino", threads=2).embed(texts)
    [blob] = _blobs(cache)
    stored = blob.read_bytes()
    assert len(stored) > 1_000_000 and not list(blob.parent.glob(".*.tmp"))  # written whole, no temporary left
    loaded = LocalEmbedder(runtime="openvino", threads=2).embed(texts)
    assert np.array_equal(loaded, compiled) and blob.read_bytes() == stored  # read back, not rewritten
    blob.write_bytes(stored[: len(stored) // 3])  # cut short, as by a full disk
    again = LocalEmbedder(runtime="openvino", threads=2).embed(texts)
    assert np.array_equal(again, compiled)
    rebuilt = blob.read_bytes()
    assert len(rebuilt) > len(stored) // 2  # compiled again and replaced by a whole file (exports differ in bytes)
    LocalEmbedder(runtime="openvino", threads=2).embed(texts[:1])
    assert blob.read_bytes() == rebuilt  # which loads
    LocalEmbedder(runtime="openvino", threads=1).embed(texts[:1])
    assert len(_blobs(cache)) == 2


@openvino
def test_a_cache_that_cannot_be_written_is_skipped(tmp_path, monkeypatch):
    from agent_scientist.memory.embedding import LocalEmbedder

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    vectors = LocalEmbedder(runtime="openvino").embed(["Label smoothing improves calibration."])
    assert vectors.shape == (1, 384) and blocked.read_text() == "a file where the cache folder would go"
