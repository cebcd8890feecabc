"""What the shop is made of, as plain data: the request bodies a user would send
to ECS, elbv2 and Application Auto Scaling. Pure: no calls here.

Names all derive from one `name` (default "shop"), so a test can deploy a shop
of its own beside the one `make demo` runs on the same Docker engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openecs.demo.images import ShopImages

__all__ = [
    "APP_PORT",
    "DATABASE_PORT",
    "ShopSettings",
    "backend_task_definition",
    "database_task_definition",
    "frontend_task_definition",
    "resource_label",
    "scaling_policy",
    "target_group",
]

APP_PORT = 8080
DATABASE_PORT = 5432
SUBNETS = {"awsvpcConfiguration": {"subnets": ["subnet-local"], "assignPublicIp": "DISABLED"}}


@dataclass(frozen=True, slots=True)
class ShopSettings:
    name: str = "shop"
    shop_port: int = 8000
    region: str = "us-east-1"
    database_password: str = "shop-demo-password"
    frontend_tasks: int = 2
    backend_min: int = 2
    backend_max: int = 10
    # ALBRequestCountPerTarget: requests per backend task per minute. Black Friday's
    # default peak (30 req/s) asks for 5 tasks: what a 2-core machine's FARGATE
    # capacity holds beside the frontend and the database (256 CPU units each task).
    requests_per_target: float = 400.0
    scale_out_cooldown: int = 30
    scale_in_cooldown: int = 60
    log_retention_days: int = 7
    # The account the server puts the shop in (from the cluster's ARN).
    account_id: str = "000000000000"

    @property
    def cluster(self) -> str:
        return self.name

    def family(self, part: str) -> str:
        return f"{self.name}-{part}"

    def service(self, part: str) -> str:
        return f"{self.name}-{part}"

    def log_group(self, part: str) -> str:
        return f"/ecs/{self.name}/{part}"

    @property
    def execution_role(self) -> str:
        """The role ECS's agent would assume to ship awslogs (IAM is not modelled here)."""
        return f"arn:aws:iam::{self.account_id}:role/ecsTaskExecutionRole"

    @property
    def volume(self) -> str:
        """The database's named Docker volume (scope shared: it outlives tasks)."""
        return f"{self.name}-pgdata"


def _logging(settings: ShopSettings, part: str) -> dict[str, Any]:
    return {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": settings.log_group(part),
            "awslogs-region": settings.region,
            "awslogs-stream-prefix": part,
        },
    }


def _fargate(
    settings: ShopSettings, part: str, cpu: str, memory: str, container: dict[str, Any]
) -> dict[str, Any]:
    return {
        "family": settings.family(part),
        "executionRoleArn": settings.execution_role,
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "cpu": cpu,
        "memory": memory,
        "containerDefinitions": [container],
    }


def frontend_task_definition(settings: ShopSettings, images: ShopImages) -> dict[str, Any]:
    return _fargate(
        settings,
        "frontend",
        "256",
        "512",
        {
            "name": "web",
            "image": images.frontend,
            "essential": True,
            "portMappings": [{"containerPort": APP_PORT, "protocol": "tcp"}],
            "healthCheck": {
                "command": ["CMD-SHELL", f"wget -q -O /dev/null http://127.0.0.1:{APP_PORT}/"],
                "interval": 5,
                "timeout": 3,
                "retries": 3,
                "startPeriod": 5,
            },
            "logConfiguration": _logging(settings, "frontend"),
            "stopTimeout": 5,
        },
    )


def backend_task_definition(
    settings: ShopSettings, images: ShopImages, database_host: str
) -> dict[str, Any]:
    probe = (
        "import urllib.request; "
        f"urllib.request.urlopen('http://127.0.0.1:{APP_PORT}/api/health', timeout=2)"
    )
    environment = {
        "DATABASE_HOST": database_host,
        "DATABASE_PORT": str(DATABASE_PORT),
        "DATABASE_NAME": "shop",
        "DATABASE_USER": "shop",
        "DATABASE_PASSWORD": settings.database_password,
    }
    return _fargate(
        settings,
        "backend",
        "256",
        "512",
        {
            "name": "api",
            "image": images.backend,
            "essential": True,
            "portMappings": [{"containerPort": APP_PORT, "protocol": "tcp"}],
            "environment": [{"name": k, "value": v} for k, v in sorted(environment.items())],
            "healthCheck": {
                "command": ["CMD", "python3", "-c", probe],
                "interval": 5,
                "timeout": 3,
                "retries": 3,
                "startPeriod": 10,
            },
            "logConfiguration": _logging(settings, "backend"),
            "stopTimeout": 10,
        },
    )


def database_task_definition(settings: ShopSettings, images: ShopImages) -> dict[str, Any]:
    environment = {
        "POSTGRES_USER": "shop",
        "POSTGRES_DB": "shop",
        "POSTGRES_PASSWORD": settings.database_password,
    }
    definition = _fargate(
        settings,
        "database",
        "256",
        "512",
        {
            "name": "postgres",
            "image": images.database,
            "essential": True,
            "portMappings": [{"containerPort": DATABASE_PORT, "protocol": "tcp"}],
            "environment": [{"name": k, "value": v} for k, v in sorted(environment.items())],
            "mountPoints": [
                {"sourceVolume": settings.volume, "containerPath": "/var/lib/postgresql/data"}
            ],
            "healthCheck": {
                "command": ["CMD-SHELL", "pg_isready -q -h 127.0.0.1 -U shop -d shop"],
                "interval": 5,
                "timeout": 3,
                "retries": 5,
                "startPeriod": 10,
            },
            "logConfiguration": _logging(settings, "database"),
            "stopTimeout": 20,
        },
    )
    definition["volumes"] = [
        {
            # Scope shared: the Docker volume is named after it and outlives tasks.
            "name": settings.volume,
            "dockerVolumeConfiguration": {
                "scope": "shared",
                "autoprovision": True,
                "driver": "local",
                "labels": {"openecs.demo": settings.name},
            },
        }
    ]
    return definition


def target_group(settings: ShopSettings, part: str, health_path: str) -> dict[str, Any]:
    """CreateTargetGroup's parameters; target type ip, as awsvpc tasks need."""
    return {
        "Name": f"{settings.name}-{part}",
        "Protocol": "HTTP",
        "Port": APP_PORT,
        "TargetType": "ip",
        "VpcId": "vpc-local",
        "HealthCheckPath": health_path,
        "HealthCheckIntervalSeconds": 5,
        "HealthCheckTimeoutSeconds": 2,
        "HealthyThresholdCount": 2,
        "UnhealthyThresholdCount": 2,
    }


def resource_label(load_balancer_arn: str, target_group_arn: str) -> str:
    """ALBRequestCountPerTarget's ResourceLabel: app/NAME/ID/targetgroup/NAME/ID."""
    lb = load_balancer_arn.split(":loadbalancer/", 1)[1]
    tg = target_group_arn.rsplit(":", 1)[1]
    return f"{lb}/{tg}"


def scaling_policy(settings: ShopSettings, label: str) -> dict[str, Any]:
    """PutScalingPolicy's parameters for the backend: target tracking on requests."""
    return {
        "PolicyName": f"{settings.name}-backend-requests",
        "ServiceNamespace": "ecs",
        "ResourceId": f"service/{settings.cluster}/{settings.service('backend')}",
        "ScalableDimension": "ecs:service:DesiredCount",
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": settings.requests_per_target,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "ALBRequestCountPerTarget",
                "ResourceLabel": label,
            },
            "ScaleOutCooldown": settings.scale_out_cooldown,
            "ScaleInCooldown": settings.scale_in_cooldown,
        },
    }
