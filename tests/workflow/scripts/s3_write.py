"""Writes one object to $BUCKET with boto3, as the task role (no bucket is created)."""

import os
import sys

import boto3
from botocore.exceptions import ClientError

try:
    boto3.client("s3").put_object(Bucket=os.environ["BUCKET"], Key="probe.txt", Body=b"x")
except ClientError as error:
    print(f"refused: {error}")
    sys.exit(3)
print("written to", os.environ["BUCKET"])
