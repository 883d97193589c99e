"""tests/servers.py: what a test asks ``chalice local`` for is what it runs with."""

from __future__ import annotations

import json

from tests.servers import FUNCTIONS_DIR, LOCAL_STAGE, _project_overriding, local_stage_env


def test_env_wins_over_the_local_stage_variables() -> None:
    """``chalice local`` puts the stage's variables over the process environment; a test's
    ``MODEL_REFRESH_SECONDS=1`` gets a project whose stage says 1 (the rest: symlinks)."""
    assert local_stage_env()["MODEL_REFRESH_SECONDS"] != "1"
    with _project_overriding(FUNCTIONS_DIR, {"MODEL_REFRESH_SECONDS": "1", "X": "y"}) as project:
        assert project != FUNCTIONS_DIR
        config = json.loads((project / ".chalice" / "config.json").read_text())
        stage = config["stages"][LOCAL_STAGE]["environment_variables"]
        assert stage["MODEL_REFRESH_SECONDS"] == "1" and "X" not in stage
        assert (project / "app.py").resolve() == FUNCTIONS_DIR / "app.py"
        assert (project / "chalicelib").resolve() == FUNCTIONS_DIR / "chalicelib"
    assert not project.exists()
    with _project_overriding(FUNCTIONS_DIR, {"API_KEY": ""}) as unchanged:
        assert unchanged == FUNCTIONS_DIR  # not a stage variable: the process env carries it
