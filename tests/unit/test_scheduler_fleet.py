"""The registrations of a simulated fleet (`openecs fleet`): the real agent's
capabilities on every instance, GPUs on every n-th when asked, and the same
sizes for a seed whether or not GPUs are asked for."""

from __future__ import annotations

import argparse

from openecs.agent.agent import AGENT_CAPABILITIES
from openecs.agent.simulated_fleet import FleetConfig, fleet_instances
from openecs.cli.fleet import add_fleet_arguments
from openecs.domain.resources import Capacity


def test_every_instance_registers_the_capabilities_of_the_real_agent() -> None:
    for reg in fleet_instances(FleetConfig("c", 12)):
        names = {a["name"] for a in reg["attributes"]}
        assert set(AGENT_CAPABILITIES) <= names
        assert "ecs.capability.task-eni" in names


def test_without_gpu_every_no_instance_offers_a_gpu() -> None:
    for reg in fleet_instances(FleetConfig("c", 30)):
        assert Capacity.from_api(reg["totalResources"]).gpus == 0


def test_every_nth_instance_is_a_gpu_instance_and_the_others_keep_their_sizes() -> None:
    plain = fleet_instances(FleetConfig("c", 30, seed=5))
    with_gpus = fleet_instances(FleetConfig("c", 30, seed=5, gpu_every=4))
    for n, (before, after) in enumerate(zip(plain, with_gpus, strict=True)):
        capacity = Capacity.from_api(after["totalResources"])
        if n % 4 == 3:
            assert after["instanceType"] == "g4dn.xlarge"
            assert capacity.gpus == 1
        else:
            assert after == before
            assert capacity.gpus == 0


def test_the_cli_passes_gpu_every_on() -> None:
    parser = argparse.ArgumentParser()
    add_fleet_arguments(parser)
    assert parser.parse_args(["--cluster", "c"]).gpu_every == 0
    assert parser.parse_args(["--cluster", "c", "--gpu-every", "3"]).gpu_every == 3
