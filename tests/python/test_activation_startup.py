"""What a start of `activation` costs: commands load only their own modules, one TLS context per
process, YAML through libyaml. A cron job runs `activation sync` once per run; the tests run it
hundreds of times."""

from __future__ import annotations

import ssl

import pytest
import yaml

from activation import yamlfile
from activation.transport.client import Transport, tls_context
from activation.transport.limits import DestinationLimits, EndpointClass, RateLimit
from dbt_runner import PROJECT_DIR


def _limits() -> DestinationLimits:
    endpoint = EndpointClass("bulk", RateLimit(), max_records=100, max_bytes=10_000)
    return DestinationLimits({"bulk": endpoint}, max_concurrency=2)


def test_every_client_shares_one_tls_context_that_verifies(monkeypatch):
    tls_context.cache_clear()
    built: list[str] = []
    create = ssl.create_default_context

    def counting(*args, **kwargs):
        built.append("context")
        return create(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counting)
    try:
        transports = [Transport(f"https://esp{i}.example.com", {}, _limits()) for i in range(3)]
        assert built == ["context"]
        context = tls_context()
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname
        assert context.get_ca_certs() or context.cert_store_stats()["x509_ca"] > 0, "no CA certificates loaded"
        for transport in transports:
            transport.close()
    finally:
        tls_context.cache_clear()


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
