"""The application load balancer's data plane: HAProxy driven from the elbv2 model.

* `haproxy_config` — snapshot → haproxy.cfg (pure): frontends per listener, rules
  as ACLs in priority order, backends per target group with a pool of server slots;
* `runtime_api` — asyncio client of HAProxy's admin socket (prompt mode, pipelined);
* `haproxy_process` — start, reload (master-worker), restart after death, stop;
* `data_plane` — the reconciler: config, targets into slots through the runtime
  API (no reload), target health back in elbv2's terms.
"""
