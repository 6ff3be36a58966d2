"""Feature store: feature definitions, ingest of raw sources, online and historical retrieval."""

from featurestore.definitions import FeatureCatalog, FeatureDef, catalog

__all__ = ["FeatureCatalog", "FeatureDef", "catalog"]
