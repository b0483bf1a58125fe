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
