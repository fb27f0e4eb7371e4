"""Distributed engines: fit and transform on a cluster (featuredsl.distributed.dask)."""
