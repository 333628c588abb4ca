"""Sample raw data for the warehouse: the 8 raw tables of models/staging/_raw__sources.yml,
realistic, deterministic from a seed, with known anomalies and a manifest of what staging
must make of them."""

from datagen.config import GeneratorConfig, MessConfig
from datagen.pipeline import STAGES, Dataset, generate
from datagen.writers import write_duckdb, write_files

__all__ = ["STAGES", "Dataset", "GeneratorConfig", "MessConfig", "generate", "write_duckdb", "write_files"]
