"""The object store (a local directory or S3/MinIO): charts, bar histories, backtests, and where each lives."""
