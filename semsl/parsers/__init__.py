"""Readers and writers of the aggregation encodings found in master-array files."""
