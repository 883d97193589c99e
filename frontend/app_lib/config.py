"""Where the API is and how to authenticate: the environment, overridable in the sidebar.

The frontend holds no AWS credentials and no model files; the API URL and key are its
whole configuration. ``API_URL`` and ``API_KEY`` are read on every run (never at import)
so a changed environment or sidebar value takes effect without a restart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import streamlit as st

API_URL_ENV = "API_URL"
API_KEY_ENV = "API_KEY"
DEFAULT_API_URL = "http://127.0.0.1:8000"

URL_STATE_KEY = "api_url"
KEY_STATE_KEY = "api_key"


@dataclass(frozen=True)
class Settings:
    """The two things needed to call the API."""

    api_url: str
    api_key: str | None


def from_environment() -> Settings:
    """Settings as the environment gives them (the sidebar's starting values)."""
    url = os.environ.get(API_URL_ENV, "").strip() or DEFAULT_API_URL
    key = os.environ.get(API_KEY_ENV, "").strip() or None
    return Settings(api_url=url.rstrip("/"), api_key=key)


def render_sidebar() -> Settings:
    """Show the connection settings in the sidebar and return the ones in force.

    Called once per run from the entrypoint so the widgets (and their values) live
    across page switches.
    """
    env = from_environment()
    if URL_STATE_KEY not in st.session_state:
        st.session_state[URL_STATE_KEY] = env.api_url
    if KEY_STATE_KEY not in st.session_state:
        st.session_state[KEY_STATE_KEY] = env.api_key or ""
    with st.sidebar:
        st.subheader("Connection")
        st.text_input(
            "API URL",
            key=URL_STATE_KEY,
            help=f"Base URL of the scoring API (environment: {API_URL_ENV}).",
        )
        st.text_input(
            "API key",
            key=KEY_STATE_KEY,
            type="password",
            help=f"Sent as the x-api-key header when set (environment: {API_KEY_ENV}).",
        )
    return current()


def current() -> Settings:
    """The settings in force for this run (sidebar values, else the environment)."""
    env = from_environment()
    url = str(st.session_state.get(URL_STATE_KEY) or env.api_url).strip().rstrip("/")
    key = str(st.session_state.get(KEY_STATE_KEY) or "").strip() or env.api_key
    return Settings(api_url=url or DEFAULT_API_URL, api_key=key)
