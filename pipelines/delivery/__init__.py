"""Delivery: storage (local folders, S3), the sink, the manifest, the job lease, verification."""
