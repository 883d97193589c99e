"""Session-wide safety: every AWS call in the test suite goes to moto, never the network.

Set before boto3 is imported anywhere so botocore never probes the instance-metadata
address or finds real credentials.
"""

import os

os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_SECURITY_TOKEN"] = "testing"
os.environ["AWS_SESSION_TOKEN"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ["AWS_REGION"] = "us-east-1"
os.environ.pop("AWS_PROFILE", None)
os.environ.pop("AWS_ENDPOINT_URL", None)

# The session fixture ``trained_bundle`` (one real bundle, shared by every part's tests).
pytest_plugins = ["tests.fixtures_bundle"]
