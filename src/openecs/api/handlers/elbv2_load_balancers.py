"""Elastic Load Balancing v2: load balancer operations."""

from __future__ import annotations

from typing import Any

from openecs.api.context import Operations, RequestContext
from openecs.domain.load_balancing import LoadBalancer
from openecs.usecases import load_balancing

__all__ = ["OPERATIONS", "present_load_balancer"]


def present_load_balancer(lb: LoadBalancer) -> dict[str, Any]:
    """A load balancer in the elbv2 `LoadBalancer` shape. Its zones carry the address
    the data plane binds its listeners on."""
    subnets: list[str | None] = list(lb.subnets) or [None]
    zones = [
        {
            "ZoneName": f"{lb.region}{chr(ord('a') + i % 26)}",
            "SubnetId": subnet,
            "LoadBalancerAddresses": [{"IpAddress": lb.address}],
        }
        for i, subnet in enumerate(subnets)
    ]
    return {
        "LoadBalancerArn": lb.arn,
        "DNSName": lb.dns_name,
        "CreatedTime": lb.created_at,
        "LoadBalancerName": lb.name,
        "Scheme": lb.scheme,
        "VpcId": lb.vpc_id,
        "State": {"Code": lb.state},
        "Type": lb.type,
        "AvailabilityZones": zones,
        "SecurityGroups": lb.security_groups,
        "IpAddressType": lb.ip_address_type,
    }


def create_load_balancer(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    subnets = p.get("Subnets")
    if subnets is None and p.get("SubnetMappings") is not None:
        subnets = [m["SubnetId"] for m in p["SubnetMappings"] if m.get("SubnetId")]
    lb = load_balancing.create_load_balancer(
        ctx.backend,
        ctx.scope,
        name=p["Name"],
        subnets=subnets,
        security_groups=p.get("SecurityGroups"),
        scheme=p.get("Scheme"),
        lb_type=p.get("Type"),
        ip_address_type=p.get("IpAddressType"),
        tags=p.get("Tags"),
    )
    return {"LoadBalancers": [present_load_balancer(lb)]}


def describe_load_balancers(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    found, marker = load_balancing.describe_load_balancers(
        ctx.backend,
        ctx.scope,
        names=p.get("Names"),
        arns=p.get("LoadBalancerArns"),
        marker=p.get("Marker"),
        page_size=p.get("PageSize"),
    )
    return {"LoadBalancers": [present_load_balancer(lb) for lb in found], "NextMarker": marker}


def delete_load_balancer(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    load_balancing.delete_load_balancer(ctx.backend, ctx.scope, p["LoadBalancerArn"])
    return {}


OPERATIONS: Operations = {
    "CreateLoadBalancer": create_load_balancer,
    "DescribeLoadBalancers": describe_load_balancers,
    "DeleteLoadBalancer": delete_load_balancer,
}
