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


@pytest.mark.parametrize("line, message", [
    ('sandbox_gpus = "bogus"', "Setting 'sandbox_gpus' must be auto, none, or GPU indices"),
    ('sandbox_gpus = "0,x"', "Setting 'sandbox_gpus' must be auto, none, or GPU indices"),
    ('paper_sources = "arxiv,bogus"', "Setting 'paper_sources': bogus is not a paper source: use arxiv, "
                                      "semantic_scholar, openalex"),
    ('paper_sources = " , "', "Setting 'paper_sources': nothing is not a paper source"),
    ('executor = "slurm"', "Setting 'executor' must be one of local, ray, not 'slurm'"),
])
def test_settings_with_a_fixed_set_of_values_are_checked_at_load(home, tmp_path, monkeypatch, line, message):
    monkeypatch.delenv("AGENT_SCIENTIST_PAPER_SOURCES", raising=False)
    (tmp_path / "agent-scientist.toml").write_text(line + "\n")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings()


@pytest.mark.parametrize("line", ['sandbox_gpus = "0, 1"', 'sandbox_gpus = "NONE"', 'sandbox_gpus = "auto"',
                                  'paper_sources = "s2,arxiv,"', 'paper_sources = "openalex"', 'executor = "ray"'])
def test_the_accepted_forms_of_those_settings_still_load(home, tmp_path, monkeypatch, line):
    monkeypatch.delenv("AGENT_SCIENTIST_PAPER_SOURCES", raising=False)
    (tmp_path / "agent-scientist.toml").write_text(line + "\n")
    load_settings()


def test_the_default_paper_sources_are_registered_sources(home, monkeypatch):
    from agent_scientist.config import Settings
    from agent_scientist.papers.search import source_names

    monkeypatch.delenv("AGENT_SCIENTIST_PAPER_SOURCES", raising=False)
    assert load_settings().paper_sources == Settings.paper_sources
    assert source_names(Settings.paper_sources) == Settings.paper_sources.split(",")


def test_paper_sources_are_checked_against_the_registry(home):
    with pytest.raises(ConfigError, match="Setting 'paper_sources': bogus is not a paper source: use arxiv, "
                                          "semantic_scholar, openalex"):
        load_settings({"home": str(home), "paper_sources": "arxiv,bogus"})
    assert load_settings({"home": str(home), "paper_sources": "s2, OpenAlex"}).paper_sources == "s2, OpenAlex"
