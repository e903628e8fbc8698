"""Keys and base URLs checked where they are read (:mod:`attnrl.models.credentials`), and the
context probe that never lets an exception quoting the key or the URL escape."""

from __future__ import annotations

import socket

import pytest

from attnrl.models.base import ModelConfigError
from attnrl.models.context_window import check_context
from attnrl.models.credentials import (
    check_api_key,
    check_base_url,
    read_api_key,
    redact_url,
    url_secrets,
)
from attnrl.models.openai import OpenAIModel


@pytest.mark.parametrize("key", ["sk-FAKE456\n", " sk-FAKE456", "sk-FAKE456é", "sk-\x7fFAKE456"])
def test_a_key_that_cannot_be_a_header_is_refused_without_showing_it(key: str) -> None:
    with pytest.raises(ModelConfigError, match="OPENAI_API_KEY") as caught:
        check_api_key(key, "OPENAI_API_KEY")
    assert "FAKE456" not in str(caught.value)


def test_a_good_key_passes_and_an_unset_one_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    assert check_api_key("sk-ant-abc_DEF-123", "X") == "sk-ant-abc_DEF-123"
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert read_api_key("OPENAI_API_KEY") is None
    monkeypatch.setenv("OPENAI_API_KEY", "sk-FAKE456\n")
    with pytest.raises(ModelConfigError):
        read_api_key("OPENAI_API_KEY")


def test_the_model_checks_its_key_and_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-FAKE456é")
    with pytest.raises(ModelConfigError, match="OPENAI_API_KEY holds a non-ASCII"):
        OpenAIModel("gpt-4o")
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ModelConfigError, match="base_url 'http://h:70000/v1' has an invalid port"):
        OpenAIModel("gpt-4o", base_url="http://h:70000/v1")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/v1", "https://api.example.com/v1", "http://[::1]:80/"]
)
def test_a_good_base_url_passes(url: str) -> None:
    assert check_base_url(url) == url


def test_redact_url_hides_user_information_and_query_values() -> None:
    url = "http://u:sk-FAKE456@127.0.0.1:36573/v1?api-key=sk-FAKE789&x=1"
    assert redact_url(url) == "http://REDACTED@127.0.0.1:36573/v1?api-key=REDACTED&x=REDACTED"
    assert redact_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert set(url_secrets(url)) >= {"sk-FAKE456", "sk-FAKE789", "u:sk-FAKE456"}
    assert "u" not in url_secrets(url)  # too short to be a secret, would garble every message


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_the_context_check_never_shows_the_key_or_url_credentials() -> None:
    """A key urllib refuses as a header (ValueError quoting it) is "not checked", named by
    the failure's type; the URL is shown redacted, its query kept on every endpoint."""
    url = f"http://u:sk-FAKE789@127.0.0.1:{_closed_port()}/v1?api-key=sk-FAKE789"
    check = check_context(url, "m", [], max_tokens=16, api_key="sk-FAKE456\n")
    line = check.line()
    assert line.startswith("Context: not checked (")
    assert "FAKE" not in line and "FAKE" not in str(check.to_json())
    assert "/props?api-key=REDACTED: ValueError" in line
    assert "/v1/models?api-key=REDACTED: ValueError" in line
