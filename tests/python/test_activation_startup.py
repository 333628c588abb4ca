"""What a start of `activation` costs: commands load only their own modules, one TLS context per
process, YAML through libyaml. A cron job runs `activation sync` once per run; the tests run it
hundreds of times."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from collections.abc import Iterator

import click
import pytest
import yaml

from activation import yamlfile
from activation.cli import COMMANDS, LazyGroup, main
from activation.config import load_syncs
from activation.destinations import make_destination
from activation.simulators.rehearsal import DEMO_SECRETS, SYNCS_FILES
from activation.transport.client import Transport, tls_context
from activation.transport.limits import DestinationLimits, EndpointClass, RateLimit
from dbt_runner import PROJECT_DIR

# what a sync never needs: the preview's and the report's Jinja, the simulators, the scheduled
# run and its alerting, and pyarrow (only a sync that sends imports it, for its batch outcomes)
NOT_FOR_A_SYNC = ["jinja2", "pyarrow", "activation.preview", "activation.simulate", "activation.simulators",
                  "activation.report", "activation.scheduled", "activation.alerts"]


def modules_after(*args: str, then_import: tuple[str, ...] = ()) -> set[str]:
    """The modules a fresh interpreter has loaded after `activation ARGS` (in-process, via click)
    and then importing `then_import`."""
    code = (
        "import importlib, json, sys\n"
        "from activation.cli import main\n"
        f"main.main({list(args)!r}, standalone_mode=False)\n"
        f"for name in {list(then_import)!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(completed.stdout.splitlines()[-1]))


def loaded(modules: set[str], package: str) -> bool:
    return any(name == package or name.startswith(package + ".") for name in modules)


def test_the_sync_command_loads_nothing_a_sync_does_not_use():
    # what a sync imports as it runs: the engine, and each destination's module (make_destination)
    destinations = [f"activation.destinations.{kind}" for kind in SYNCS_FILES]
    modules = modules_after("sync", "--help", then_import=("activation.engine", *destinations))
    assert "activation.commands" in modules  # the test would prove nothing if sync had not been loaded
    assert [name for name in NOT_FOR_A_SYNC if loaded(modules, name)] == []


def test_the_command_line_itself_loads_no_command():
    code = "import json, sys; import activation.cli; print(json.dumps(sorted(sys.modules)))"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = set(json.loads(completed.stdout))
    heavy = ["activation.commands", "duckdb", "httpx", "pydantic", *NOT_FOR_A_SYNC]
    assert [name for name in heavy if loaded(modules, name)] == []


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_listed_command_loads_under_its_name(name):
    command = main.get_command(click.Context(main), name)
    assert isinstance(command, click.Command)
    assert command.name == name
    assert command.help, f"{name} has no --help text"


def test_help_lists_every_command():
    result = subprocess.run([sys.executable, "-m", "activation", "--help"], capture_output=True, text=True, check=True)
    commands_section = result.stdout.split("Commands:")[1]
    assert [line.split()[0] for line in commands_section.strip().splitlines()] == sorted(COMMANDS)


def test_a_lazy_entry_that_is_not_the_named_command_fails_naming_it():
    group = LazyGroup(name="g", commands={"sync": "activation.commands:plan_command"})
    with pytest.raises(TypeError, match=r"activation.commands:plan_command is not the click command 'sync'"):
        group.get_command(click.Context(group), "sync")


def _limits() -> DestinationLimits:
    endpoint = EndpointClass("bulk", RateLimit(), max_records=100, max_bytes=10_000)
    return DestinationLimits({"bulk": endpoint}, max_concurrency=2)


@pytest.fixture
def counted_tls_contexts(monkeypatch) -> Iterator[list[str]]:
    """Each TLS context built (ssl.create_default_context, what httpx calls), from a cleared cache."""
    tls_context.cache_clear()
    built: list[str] = []
    create = ssl.create_default_context

    def counting(*args, **kwargs):
        built.append("context")
        return create(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counting)
    yield built
    tls_context.cache_clear()


def test_every_client_shares_one_tls_context_that_verifies(counted_tls_contexts):
    transports = [Transport(f"https://esp{i}.example.com", {}, _limits()) for i in range(3)]
    assert counted_tls_contexts == ["context"]
    context = tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0, "no CA certificates loaded"
    for transport in transports:
        transport.close()


def test_every_destination_of_every_example_syncs_file_uses_the_shared_context(counted_tls_contexts, monkeypatch):
    destinations = []
    for kind, path in SYNCS_FILES.items():
        for sync in load_syncs(path).syncs:
            if sync.destination.base_url_env:
                monkeypatch.setenv(sync.destination.base_url_env, f"https://{kind}.example.com")
            for variable in sync.destination.credentials.values():
                monkeypatch.setenv(variable, DEMO_SECRETS[kind])
            destinations.append(make_destination(sync))
    assert {type(d).__name__ for d in destinations} >= {"KlaviyoDestination", "BrazeDestination",
                                                        "MailchimpDestination", "WebhookDestination"}
    assert counted_tls_contexts == ["context"], f"{len(counted_tls_contexts)} TLS contexts for {len(destinations)} clients"


def project_yaml_files() -> list:
    files = sorted(PROJECT_DIR.glob("models/**/*.yml")) + sorted(PROJECT_DIR.glob("syncs*.yml"))
    files += sorted((PROJECT_DIR / "activation").glob("**/*.yml"))
    assert len(files) > 20
    return files


def test_the_fast_loader_reads_every_project_yaml_as_pyyaml_does():
    if yamlfile.LOADER is not getattr(yaml, "CSafeLoader", None):
        pytest.skip("this PyYAML was built without libyaml: activation uses the pure-Python loader")
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
