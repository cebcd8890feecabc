"""Shared pieces of the task benchmarks (task_start.py, task_burst.py).

* `ecs`: a cheap SigV4-signed ECS client over one kept-alive connection.
* `stack`: real `openecs server` / `openecs agent` processes on free loopback
  ports with temporary data dirs, and the cleanup of every container they ran.
* `baseline`: the same containers started straight through the Docker Engine API
  with the project's own `DockerClient`.
* `report`: percentiles and the result tables.
"""
