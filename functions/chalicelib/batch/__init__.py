"""Scoring customer files: CSV in and out (shared with the API's CSV route), whole files in
one invocation (``files``), the Step Functions Distributed Map run (``runs``) and the S3
multipart concatenation it finishes with (``s3_concat``)."""
