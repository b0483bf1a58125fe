"""Settings precedence: flag > environment > agent-scientist.toml (cwd, then user dir) > default."""

from __future__ import annotations

import pytest

from agent_scientist.config import ConfigError, load_settings


def test_precedence(home, tmp_path, monkeypatch):
    user_dir = tmp_path / "config" / "agent-scientist"
    user_dir.mkdir(parents=True)
    (user_dir / "agent-scientist.toml").write_text('model = "user/m"\nmax_steps = 7\napi_base = "http://u"\n')
    (tmp_path / "agent-scientist.toml").write_text('model = "cwd/m"\nmax_steps = 9\n')
    s = load_settings()
    assert (s.model, s.max_steps, s.api_base) == ("cwd/m", 9, "http://u")
    monkeypatch.setenv("AGENT_SCIENTIST_MODEL", "env/m")
    monkeypatch.setenv("AGENT_SCIENTIST_MAX_STEPS", "11")
    s = load_settings()
    assert (s.model, s.max_steps) == ("env/m", 11)
    s = load_settings({"model": "flag/m", "max_steps": None})
    assert (s.model, s.max_steps) == ("flag/m", 11)
    assert s.effective_worker_model == "flag/m"


def test_bad_values_name_the_setting(home, tmp_path, monkeypatch):
    monkeypatch.setenv("AGENT_SCIENTIST_MAX_STEPS", "many")
    with pytest.raises(ConfigError, match="AGENT_SCIENTIST_MAX_STEPS"):
        load_settings()
    monkeypatch.delenv("AGENT_SCIENTIST_MAX_STEPS")
    (tmp_path / "agent-scientist.toml").write_text("modle = 'x'\n")
    with pytest.raises(ConfigError, match="unknown setting 'modle'"):
        load_settings()
    (tmp_path / "agent-scientist.toml").write_text("model = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()


def test_missing_model_message_names_the_variable(home):
    with pytest.raises(ConfigError, match="AGENT_SCIENTIST_MODEL"):
        load_settings().require_model()


@pytest.mark.parametrize("line, message", [
    ("max_steps = inf", "'max_steps': cannot read inf as a whole number"),
    ("max_steps = true", "'max_steps': cannot read True as a whole number"),
    ("max_steps = 1.9", "'max_steps': cannot read 1.9 as a whole number"),
    ("model_timeout = nan", "'model_timeout': cannot read nan as a finite number"),
    ("budget_usd = -1", "'budget_usd' must be 0 or more"),
    ("max_output_tokens = 0", "'max_output_tokens' must be at least 1"),
    ("sandbox_cpu_seconds = -5", "'sandbox_cpu_seconds' must be 0 or more"),
    ("model_timeout = 0", "'model_timeout' must be more than 0"),
])
def test_malformed_numbers_are_refused_at_load(home, tmp_path, line, message):
    (tmp_path / "agent-scientist.toml").write_text(line + "\n")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_settings()


def test_whole_floats_and_env_numbers_still_load(home, tmp_path, monkeypatch):
    (tmp_path / "agent-scientist.toml").write_text("max_steps = 12.0\nbudget_usd = 2\n")
    monkeypatch.setenv("AGENT_SCIENTIST_MAX_OUTPUT_TOKENS", "2048")
    s = load_settings()
    assert (s.max_steps, s.budget_usd, s.max_output_tokens) == (12, 2.0, 2048)
    monkeypatch.setenv("AGENT_SCIENTIST_MAX_STEPS", "3.5")
    with pytest.raises(ConfigError, match="AGENT_SCIENTIST_MAX_STEPS"):
        load_settings()


def test_paper_sources_are_checked_against_the_registry(home):
    with pytest.raises(ConfigError, match="Setting 'paper_sources': bogus is not a paper source: use arxiv, "
                                          "semantic_scholar, openalex"):
        load_settings({"home": str(home), "paper_sources": "arxiv,bogus"})
    assert load_settings({"home": str(home), "paper_sources": "s2, OpenAlex"}).paper_sources == "s2, OpenAlex"
