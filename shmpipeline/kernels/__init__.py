"""Kernel catalogs: ``cpu`` (NumPy) and ``gpu`` (torch, imported lazily).

Importing this package imports neither catalog; the registry
(:mod:`shmpipeline.registry`) loads each kernel module on first use.
"""
