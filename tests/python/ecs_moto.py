"""Builds one ECS scenario in moto for tests/it/ecs_real.rs and prints what it made as JSON.

    python ecs_moto.py MOTO_URL RUN_ID SECRET STOP_REASON

Creates a cluster, an EC2 instance registered as its container instance, a task definition whose
environment holds SECRET (it must never reach unstuck's output), runs the task with the EC2 launch
type tagged prefect.io/flow-run-id=RUN_ID (moto's RunTask fails for awsvpc/Fargate), writes a log
stream in the awslogs group, and stops the task with STOP_REASON (moto sets stoppedReason, not
stopCode). Run with the moto virtualenv's python: boto3 comes with moto.
"""
import json
import sys
import time
import uuid

import boto3

url, run_id, secret, reason = sys.argv[1:5]
kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
ecs = boto3.client("ecs", **kw)
ec2 = boto3.client("ec2", **kw)
logs = boto3.client("logs", **kw)

name = "prefect-" + uuid.uuid4().hex[:8]
cluster = ecs.create_cluster(clusterName=name)["cluster"]["clusterArn"]
image = ec2.describe_images()["Images"][0]["ImageId"]
instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
document = json.dumps({"instanceId": instance, "region": "us-east-1", "accountId": "123456789012"})
ecs.register_container_instance(cluster=name, instanceIdentityDocument=document)

group = "prefect-ecs-" + name
logs.create_log_group(logGroupName=group)
family = "prefect-" + name
td = ecs.register_task_definition(
    family=family,
    networkMode="bridge",
    requiresCompatibilities=["EC2"],
    containerDefinitions=[{
        "name": "prefect",
        "image": "prefecthq/prefect:3-latest",
        "memory": 512,
        "essential": True,
        "environment": [
            {"name": "PREFECT_API_URL", "value": "http://prefect.internal:4200/api"},
            {"name": "PREFECT_API_KEY", "value": secret},
            {"name": "DATABASE_PASSWORD", "value": secret},
        ],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {"awslogs-group": group, "awslogs-region": "us-east-1", "awslogs-stream-prefix": "prefect"},
        },
    }],
)["taskDefinition"]["taskDefinitionArn"]

task = ecs.run_task(
    cluster=name,
    taskDefinition=td,
    launchType="EC2",
    count=1,
    tags=[{"key": "prefect.io/flow-run-id", "value": run_id}],
)["tasks"][0]["taskArn"]
task_id = task.rsplit("/", 1)[1]
stream = f"prefect/prefect/{task_id}"
logs.create_log_stream(logGroupName=group, logStreamName=stream)
now = int(time.time() * 1000)
logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
    {"timestamp": now - 2000, "message": "Starting flow run"},
    {"timestamp": now - 1000, "message": f"connecting with password={secret}"},
])
ecs.stop_task(cluster=name, task=task, reason=reason)
print(json.dumps({"cluster": name, "cluster_arn": cluster, "task_arn": task, "task_definition": td, "group": group}))
