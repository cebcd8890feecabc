"""`openecs demo`: the e-commerce shop deployed on OpenECS, as a user would deploy it.

Everything here is a client of the server: images are built with the Docker engine,
resources are created through boto3 (ecs, elbv2, application-autoscaling, logs) and
the shop is reached through the load balancer over HTTP. Nothing imports the
server's layers.

    images       build and cache the shop's three images (hash-tagged)
    launcher     start `openecs up` unless one answers; credentials; boto3 clients
    shop_spec    the desired resources, pure: task definitions, target groups, policy
    decisions    create-or-update decisions, pure: what to create, update or keep
    deploy       apply them through the public APIs, wait for the shop to answer
    load         the bounded loopback load generator
    report       percentiles, the Black Friday table and chart
    blackfriday  load + sampling of the backend service + report
    command      the `openecs demo` command line
"""
