"""`doctor --model M --api-base URL` and the endpoint reachability check of the preflight (issue 25, item 6).

The provider's default endpoint is a loopback address here (conftest: OPENAI_BASE_URL), never the network."""

from __future__ import annotations

import socket

from conftest import cli_env
from support.openai_server import ChatServer
from support.scripted import code

MODEL = "openai/gpt-4o-mini"


def test_doctor_takes_the_model_and_api_base_of_research(home, cli):
    with ChatServer([]) as server:
        doctor = cli("doctor", "--model", "openai/m", "--api-base", server.url)
    assert "ok   api base: " in doctor.stdout and server.url in doctor.stdout, doctor.stdout
    assert "ok   model: openai/m" in doctor.stdout
    assert "no model set" not in doctor.stdout


def test_an_unreachable_default_endpoint_refuses_the_run_and_offline_ok_skips_the_check(home, cli):
    env = cli_env(home, OPENAI_API_KEY="sk-test")  # the default endpoint: a closed loopback port
    refused = cli("research", "Q?", "--name", "w", "--model", MODEL, env=env)
    assert refused.returncode == 2, refused.stderr
    assert "cannot connect to http://127.0.0.1:9/v1 within 4 s" in refused.stderr
    assert "--offline-ok" in refused.stderr and "Nothing was created" in refused.stderr
    assert list(home.iterdir()) == []
    doctor = cli("doctor", "--model", MODEL, env=env)
    assert "FIX  endpoint: cannot connect to http://127.0.0.1:9/v1" in doctor.stdout


def test_a_listening_default_endpoint_passes_and_offline_ok_goes_on_past_the_check(home, cli):
    with ChatServer([code('final_answer("done")')]) as server:
        env = cli_env(home, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=server.url)
        ran = cli("research", "Q?", "--name", "w", "--model", MODEL, "--worker-model", MODEL, "--quiet", env=env)
        doctor = cli("doctor", "--model", MODEL, env=env)
    assert "This run cannot start" not in ran.stderr and (home / "w" / "workspace.json").exists()
    assert f"ok   endpoint: {server.url} accepts connections" in doctor.stdout
    with socket.socket() as closed:  # a port nothing listens on: a proxy the check cannot see through
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/v1"
        env = cli_env(home, OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=url, AGENT_SCIENTIST_MODEL_RETRIES="0")
        skipped = cli("research", "Q?", "--name", "w2", "--model", MODEL, "--quiet", "--offline-ok", env=env)
    assert "This run cannot start" not in skipped.stderr
    assert (home / "w2" / "workspace.json").exists()  # it went on, and failed at the model call instead
