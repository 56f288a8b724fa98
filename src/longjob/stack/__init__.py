"""Talking to a longjob stack: the template as AWS deploys it, a deployed stack through boto3,
and the local stack a run on this machine uses."""
