"""Scoring one customer or many: the validator built from the manifest, the model
(onnxruntime sessions), the service (validate, cache, score, history) and the loader that
fetches and verifies a bundle from S3."""
