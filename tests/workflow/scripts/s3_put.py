"""Writes an object with boto3: proves the task reaches the embedded AWS endpoint."""

import os

import boto3

s3 = boto3.client("s3")
s3.create_bucket(Bucket=os.environ["BUCKET"])
s3.put_object(Bucket=os.environ["BUCKET"], Key="hello.txt", Body=b"from the task")
print("uploaded to", os.environ.get("AWS_ENDPOINT_URL"))
