"""Activation: get warehouse data into emails.

For now this package holds the email preview (Jinja2 templates rendered with
one contact's row of ``exports.export_contact_template_variables`` or a
seeded scenario profile), ESP contract checks and ESP simulators. The
reverse-ETL engine that syncs segments and template variables to ESPs will
live here too.

Modules:
    contract        the export contract (models/exports/*.yml): columns, types, fallbacks
    warehouse       read one contact's template variables from DuckDB (read-only)
    scenarios       seeded test profiles, one per scenario, checked against the contract
    templates       the Jinja2 environment and rendering of one email
    template_check  static check: templates only use variables the contract has
    config          sync declarations (syncs.yml), validated with pydantic
    db              the warehouse connection activation reads exports from and keeps state in
    state           activation's tables: runs, journal, outcomes, sync_state, rejections, tombstones
    planner         the SQL plan of a run: ADD / CHANGE / REMOVE / RETRY / UNCHANGED per record
    engine          runs a sync: resume, plan, circuit breaker, send from the journal, commit answers, merge per run
    commands        ``activation sync | plan | status``
    scheduled       ``activation run``: lock, dbt source freshness and build, sync, alerts, run report
    alerts          when a scheduled run alerts, and the Slack-compatible webhook message
    exposures       ``activation exposures``: one dbt exposure per sync, generated from syncs.yml
    destinations/   one module per ESP behind one small interface (``destinations.base``)
    failpoints      named crash points for the crash-resume tests
    transport/      the HTTP layer shared by every destination (limits, packing, rate limiting,
                    retries, split-and-retry, per-record outcomes)
    contracts/      ESP API contracts: check requests (``contracts.klaviyo.validate_request``)
    simulators/     local ESP simulators for tests, demos and benchmarks (``simulators.klaviyo``)
    cli             the ``activation`` command line (``preview``, ``simulate``, sync commands)
"""
