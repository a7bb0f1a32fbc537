from __future__ import annotations

import pytest

from bot.config import EnvReader, load_settings, parse_env_file, require_api_key
from bot.errors import ConfigError


def settings(**env):
    return load_settings(EnvReader(env))


def test_defaults_point_at_302_and_nemotron(tmp_path):
    s = settings(THREADLINE_DATA_DIR=str(tmp_path))
    assert s.llm.base_url == "https://api.302.ai/v1"
    assert s.llm.defaults.model == "llama-3.1-nemotron"
    assert s.database_url == f"sqlite+aiosqlite:///{tmp_path / 'threadline.db'}"


def test_sampling_defaults_come_from_llm_variables():
    s = settings(LLM_TEMPERATURE="0.3", LLM_MAX_TOKENS="200", LLM_STOP="###")
    assert s.llm.defaults.temperature == 0.3
    assert s.llm.defaults.max_tokens == 200
    assert s.llm.defaults.stop == ("###",)


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"LLM_TEMPERATURE": "7"}, "LLM_TEMPERATURE: temperature = '7' is not valid"),
        ({"LLM_BASE_URL": "api.example.com"}, "LLM_BASE_URL='api.example.com'"),
        ({"LLM_IDLE_TIMEOUT": "-1"}, "LLM_IDLE_TIMEOUT='-1' is not valid: expected a number"),
        ({"QUEUE_MODE": "random"}, "expected queue or supersede"),
        ({"LLM_MODEL_CONTEXT": "gpt"}, "LLM_MODEL_CONTEXT"),
        (
            {"LLM_MAX_COMPLETION_TOKENS_MODELS": "o1 preview"},
            "LLM_MAX_COMPLETION_TOKENS_MODELS='o1 preview' is not valid: expected a comma list",
        ),
        ({"LLM_MAX_COMPLETION_TOKENS_MODELS": ",,"}, "LLM_MAX_COMPLETION_TOKENS_MODELS=',,'"),
    ],
)
def test_bad_values_name_variable_value_and_accepted(env, needle):
    with pytest.raises(ConfigError) as caught:
        settings(**env)
    assert needle in str(caught.value)


@pytest.mark.parametrize(
    ("value", "globs"),
    [
        (None, ("o1*", "o3*", "o4*", "gpt-5*")),
        ("gpt-5*, my-reasoner ,", ("gpt-5*", "my-reasoner")),
        ("none", ()),
    ],
)
def test_max_completion_tokens_models_are_a_glob_list(value, globs):
    env = {} if value is None else {"LLM_MAX_COMPLETION_TOKENS_MODELS": value}
    assert settings(**env).llm.max_completion_tokens_models == globs


def test_missing_api_key_says_what_to_set():
    with pytest.raises(ConfigError, match="LLM_API_KEY is not set"):
        require_api_key(settings())


def test_secrets_never_appear_in_repr_or_errors():
    s = settings(LLM_API_KEY="sk-very-secret")
    assert "sk-very-secret" not in repr(s)
    with pytest.raises(ConfigError) as caught:
        load_settings(EnvReader({"SLACK_BOT_TOKEN": "xoxb-secret"})).env.integer(
            "SLACK_BOT_TOKEN", 1
        )
    assert "xoxb-secret" not in str(caught.value)


def test_env_file_values_are_read_and_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text('# comment\nexport LLM_MODEL="from-file"\nLLM_TEMPERATURE=0.1 # inline\n\n')
    reader = EnvReader.load({"THREADLINE_ENV_FILE": str(env_file), "LLM_MODEL": "from-env"})
    s = load_settings(reader)
    assert s.llm.defaults.model == "from-env"
    assert s.llm.defaults.temperature == 0.1


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("LLM_MODEL\n", "line 1: expected NAME=value"),
        ("OK=1\n2BAD=3\n", "line 2"),
        ('LLM_MODEL="open\n', "unterminated"),
    ],
)
def test_corrupt_env_file_is_one_clear_error(tmp_path, content, needle):
    env_file = tmp_path / ".env"
    env_file.write_text(content)
    with pytest.raises(ConfigError, match=needle):
        parse_env_file(env_file)


def test_binary_env_file_is_refused(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="not UTF-8"):
        parse_env_file(env_file)
