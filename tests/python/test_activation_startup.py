"""What a start of `activation` costs: commands load only their own modules, one TLS context per
process, YAML through libyaml. A cron job runs `activation sync` once per run; the tests run it
hundreds of times."""

from __future__ import annotations

import pytest
import yaml

from activation import yamlfile
from dbt_runner import PROJECT_DIR


def project_yaml_files() -> list:
    files = sorted(PROJECT_DIR.glob("models/**/*.yml")) + sorted(PROJECT_DIR.glob("syncs*.yml"))
    files += sorted((PROJECT_DIR / "activation").glob("**/*.yml"))
    assert len(files) > 20
    return files


def test_the_fast_loader_reads_every_project_yaml_as_pyyaml_does():
    assert yamlfile.LOADER is yaml.CSafeLoader, "this PyYAML has no libyaml: the pure-Python loader is used"
    for path in project_yaml_files():
        text = path.read_text()
        assert yamlfile.safe_load(text) == yaml.safe_load(text), path


def test_the_fast_loader_stays_safe_and_reports_where_the_error_is():
    with pytest.raises(yaml.YAMLError):
        yamlfile.safe_load("!!python/object/apply:os.system ['true']")
    with pytest.raises(yaml.YAMLError) as error:
        yamlfile.safe_load("syncs:\n  - name: a\n   bad: indent\n")
    assert "line 3" in str(error.value)
    assert yamlfile.safe_load("") is None
